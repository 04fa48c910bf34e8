"""What a pipeline step did, as plain values: rows in and out, tables written, quality counts.

Pipeline functions return a `StepResult`; the app layer adds the run's identity and timing
(`ops.runs.StepReport`) and records it in `ops.pipeline_runs` and `ops.quality_metrics`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# A progress line for the user (the app layer prints it to stderr with the step and elapsed time).
Progress = Callable[[str], None]


def no_progress(text: str) -> None:
    """A `Progress` that says nothing."""


@dataclass
class QualityMetric:
    """Rows passing and failing one rule in one batch (rule '*': the table's totals)."""

    table_name: str
    rule: str
    severity: str
    passed: int
    failed: int
    duplicates_dropped: int = 0


@dataclass(kw_only=True)
class StepResult:
    """What a step (or a part of one) did.

    Attributes:
        rows_in, rows_out, rows_quarantined: records read, written to the step's targets, quarantined.
        versions: table -> the Delta version this step left it at (only tables it changed).
        inputs: table -> the Delta version of an input it read.
        quality: the rule counts of every batch.
    """

    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    quality: list[QualityMetric] = field(default_factory=list)

    def add(self, other: StepResult) -> StepResult:
        """Fold `other` into this result (counts summed, versions and inputs updated); returns self."""
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.rows_quarantined += other.rows_quarantined
        self.versions.update(other.versions)
        self.inputs.update(other.inputs)
        self.quality.extend(other.quality)
        return self

    @property
    def changed(self) -> bool:
        return bool(self.versions)
