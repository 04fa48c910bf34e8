"""Gold as stored against gold computed afresh from the whole of silver (the incremental build's check)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pyspark.sql import SparkSession

from lakehouse.contract import conform
from lakehouse.ops.runs import StepReport
from lakehouse.pipeline.gold import SILVER_INPUTS, gold_tables
from lakehouse.storage import delta


def gold_mismatches(spark: SparkSession, root: str) -> dict[str, int]:
    """Per gold table, the rows in one of (gold as stored, gold computed from all of silver by the
    full build's transforms) and not in the other."""
    silver = {name: delta.read(spark, root, name) for name in SILVER_INPUTS}
    found = {}
    for name, build in gold_tables(silver).items():
        want, have = conform(build(), name), delta.read(spark, root, name)
        found[name] = want.exceptAll(have).count() + have.exceptAll(want).count()
    return found


@contextmanager
def gold_lines(step: str = "gold") -> Iterator[list[str]]:
    """The progress lines of the `step` runs (gold's by default) made inside the block (still
    printed as usual)."""
    lines: list[str] = []
    progress = StepReport.progress

    def keep(report: StepReport, text: str) -> None:
        if report.step == step:
            lines.append(text)
        progress(report, text)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StepReport, "progress", keep)
        yield lines
