"""Recording what each step did: `ops.pipeline_runs` and `ops.quality_metrics`."""
from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from lakehouse import contract
from lakehouse.ops.results import StepResult
from lakehouse.storage import delta


def now() -> datetime:
    """Now, as the naive UTC timestamp the ops tables hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id(step: str) -> str:
    return f"{step}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class StepReport(StepResult):
    """One run of a step: its identity and timing, and what it did (the `StepResult` fields, taken
    in with `add`); one row of `ops.pipeline_runs`."""

    run_id: str
    step: str
    started_at: datetime = field(default_factory=now)
    finished_at: datetime | None = None
    status: str = "running"
    message: str = ""
    _clock: float = field(default_factory=time.monotonic)

    def progress(self, text: str) -> None:
        """A progress line on stderr, so a user sees what Spark is working on."""
        print(f"[{self.step} +{time.monotonic() - self._clock:6.1f}s] {text}", file=sys.stderr, flush=True)


def last_inputs(spark: SparkSession, root: str, step: str) -> dict[str, int] | None:
    """The input versions the latest successful run of `step` read (None if it never ran)."""
    runs = delta.read(spark, root, "ops.pipeline_runs")
    row = (runs.where((runs.step == step) & runs.status.isin("succeeded", "no_change"))
           .orderBy(runs.finished_at.desc()).select("input_versions").first())
    return dict(row["input_versions"] or {}) if row else None


def record(spark: SparkSession, root: str, report: StepReport) -> None:
    """Append the step's row of `ops.pipeline_runs` and its quality metrics.

    A step is recorded once, when it ends (succeeded, no change, or failed); a run id names one
    run of one step, so the rows of two runs never mix.
    """
    report.finished_at = report.finished_at or now()
    run_row = [(report.run_id, report.step, report.started_at, report.finished_at, report.status,
                report.rows_in, report.rows_out, report.rows_quarantined, report.versions, report.inputs,
                report.message)]
    delta.append(spark.createDataFrame(run_row, contract.schema("ops.pipeline_runs")), root, "ops.pipeline_runs")
    if report.quality:
        rows = [(report.run_id, report.finished_at, q.table_name, q.rule, q.severity, q.passed, q.failed,
                 q.duplicates_dropped) for q in report.quality]
        delta.append(spark.createDataFrame(rows, contract.schema("ops.quality_metrics")), root, "ops.quality_metrics")
