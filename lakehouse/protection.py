"""The app layer of data protection: erasing people and rotating the HMAC key, each followed by
gold and the PostgreSQL export (`lakehouse erase`, `lakehouse rotate-key`, `jobs/erase_requests.py`).
The leak checks every step runs are in `lakehouse.security.leak_checks`."""
from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import SparkSession

from lakehouse.app import run_export, run_gold, run_step
from lakehouse.config import Config
from lakehouse.contract import tables_in
from lakehouse.ops.results import StepResult
from lakehouse.ops.runs import StepReport, last_inputs, new_run_id
from lakehouse.pipeline.gold import check_silver
from lakehouse.security.secret_refs import resolve
from lakehouse.storage import delta


def run_erase(spark: SparkSession, config: Config, national_ids: list[str], requested_by: str,
              operator_ids: list[str] | None = None) -> list[StepReport]:
    """Erase people: `national_ids` (citizens) and `operator_ids` (registry operators) become
    pending requests (beside any already in `ops.erasure_requests`), every pending request is
    carried out (`pipeline.erasure`); when silver lost rows, gold follows them before the purge
    (incrementally, from silver's change feed) and is purged too, and
    the PostgreSQL export and its staging follow when gold was exported before. Runs again
    harmlessly."""
    from lakehouse.pipeline import erasure
    from lakehouse.storage import staging

    key, retention = resolve(config.security.hmac_key), config.security.erasure_retention_hours
    requested_at = datetime.now(UTC).replace(tzinfo=None)

    gold: list[StepReport] = []

    def work(report: StepReport) -> StepResult:
        subjects = [(erasure.CITIZEN, n) for n in national_ids] + [(erasure.OPERATOR, o) for o in operator_ids or []]
        added = erasure.add_requests(spark, config.root, subjects, key, requested_by, requested_at)
        if added:
            report.progress(f"{len(added)} request(s) recorded: {', '.join(added)}")

        def follow(erased: erasure.Erasure) -> None:  # before the purge: silver's change feed holds the deletions
            # A gold run that fails here fails the erasure before any purge: the requests stay
            # pending and silver's change feed intact, so the next gold run (or erasure) follows on.
            if any(rows for name, rows in erased.rows.items() if name.startswith("silver.")):
                gold.append(run_gold(spark, config, report.run_id))

        return erasure.erase(spark, config.root, key, requested_by, retention, report.progress, follow).step

    reports = [run_step(spark, config, "erase", work), *gold]
    if not gold:
        return reports
    for t in tables_in("gold"):
        delta.purge(spark, config.root, t.full_name, retention)
    if last_inputs(spark, config.root, "export") is not None:
        reports.append(run_export(spark, config, reports[0].run_id))
        for t in tables_in("gold"):
            kept = staging.versions(spark, config.root, t.full_name)
            if kept:
                staging.prune(spark, config.root, t.full_name, {max(kept)})
    return reports


def rotate_key(spark: SparkSession, config: Config, new_key_env: str | None = None) -> list[StepReport]:
    """A new HMAC key: silver's citizen keys recomputed, the key swapped, then gold and the export.

    A key file or a Secrets Manager secret gets a generated key; a key in an environment variable
    takes the new one from `new_key_env` (`lakehouse.security.rotation`).
    """
    from lakehouse.security.rotation import rotate

    check_silver(spark, config.root)
    run_id = new_run_id("rotate-key")
    rotated = run_step(spark, config, "rotate-key", lambda report: rotate(
        spark, config.root, config.security.hmac_key, report.progress, new_key_env), run_id)
    return [rotated, run_gold(spark, config, run_id), run_export(spark, config, run_id)]
