"""Recording what each step did: `ops.pipeline_runs` and `ops.quality_metrics`."""
from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from lakehouse import contract
from lakehouse.storage import delta


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id(step: str) -> str:
    return f"{step}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class QualityMetric:
    table_name: str
    rule: str
    severity: str
    passed: int
    failed: int
    duplicates_dropped: int = 0


@dataclass
class StepReport:
    """What one step did; filled in while it works, written to `ops.pipeline_runs` at the end."""

    run_id: str
    step: str
    started_at: datetime = field(default_factory=now)
    finished_at: datetime | None = None
    status: str = "running"
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    message: str = ""
    quality: list[QualityMetric] = field(default_factory=list)
    commits: dict[str, datetime] = field(default_factory=dict)  # batch id -> when its commit returned
    batches: list[tuple[datetime, int]] = field(default_factory=list)  # stream: (commit time, rows) per batch
    _clock: float = field(default_factory=time.monotonic)

    def progress(self, text: str) -> None:
        """A progress line on stderr, so a user sees what Spark is working on."""
        print(f"[{self.step} +{time.monotonic() - self._clock:6.1f}s] {text}", file=sys.stderr, flush=True)

    @property
    def changed(self) -> bool:
        return bool(self.versions)


def last_inputs(spark: SparkSession, root: str, step: str) -> dict[str, int] | None:
    """The input versions the latest successful run of `step` read (None if it never ran)."""
    runs = delta.read(spark, root, "ops.pipeline_runs")
    row = (runs.where((runs.step == step) & runs.status.isin("succeeded", "no_change"))
           .orderBy(runs.finished_at.desc()).select("input_versions").first())
    return dict(row["input_versions"] or {}) if row else None


def record(spark: SparkSession, root: str, report: StepReport) -> None:
    """Append the step's row and its quality metrics (idempotent per run id and step)."""
    report.finished_at = report.finished_at or now()
    run_row = [(report.run_id, report.step, report.started_at, report.finished_at, report.status,
                report.rows_in, report.rows_out, report.rows_quarantined, report.versions, report.inputs,
                report.message)]
    delta.append(spark.createDataFrame(run_row, contract.schema("ops.pipeline_runs")), root, "ops.pipeline_runs")
    if report.quality:
        rows = [(report.run_id, report.finished_at, q.table_name, q.rule, q.severity, q.passed, q.failed,
                 q.duplicates_dropped) for q in report.quality]
        delta.append(spark.createDataFrame(rows, contract.schema("ops.quality_metrics")), root, "ops.quality_metrics")
