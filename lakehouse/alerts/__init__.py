"""KPI and operations alerts: rules from config judged into incidents in `gold.alerts`, sent to SNS.

`evaluate` judges every enabled rule (`judge`) over its measure (`measures`: a gold KPI table or an
ops measure), moves the incidents of `gold.alerts` along their lifecycle (`incidents`), commits the
table, then sends each opening and each resolution not yet sent, and records that it did (a second
commit). A re-run with nothing new commits and sends nothing; a send that fails is retried by the
next evaluation, and a crash between a send and its record sends that one message again (SNS
standard topics have no deduplication: at least once, never lost).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.alerts import incidents, measures
from lakehouse.alerts.judge import Judgement, judge
from lakehouse.config import AlertRule
from lakehouse.contract import schema
from lakehouse.errors import LakehouseError, SourceError, describe
from lakehouse.ops.results import Progress, StepResult, no_progress
from lakehouse.storage import delta, delta_changes

TABLE = "gold.alerts"
# Sends one incident's opening or resolution ("opened", "resolved"); raises when it cannot (app.sns_sender).
Send = Callable[[incidents.Incident, str], None]


@dataclass
class Evaluation(StepResult):
    """What one evaluation did, besides the `StepResult` counts."""

    opened: list[incidents.Incident] = field(default_factory=list)
    resolved: list[incidents.Incident] = field(default_factory=list)
    sent: int = 0


def evaluate(spark: SparkSession, root: str, rules: dict[str, AlertRule], now: datetime, send: Send | None = None,
             progress: Progress = no_progress, ops_only: bool = False) -> Evaluation:
    """Judge `rules` (only those of the ops measures freshness and lag when `ops_only`), commit the
    incidents, send what is pending. `now` is naive UTC."""
    chosen = {name: rule for name, rule in rules.items() if rule.enabled
              and (not ops_only or measures.measure(rule.table, name).ops)}
    delta.ensure(spark, root, TABLE)
    existing = [row.asDict() for row in delta.read(spark, root, TABLE).collect()]
    judged: dict[str, tuple[AlertRule, list[Judgement]]] = {}
    for name, rule in sorted(chosen.items()):
        source = measures.measure(rule.table, name)
        frame = source.read(spark, root, now)
        if frame is not None:
            judged[name] = (rule, judge(frame, rule, name, source.keys))
    retired = set() if ops_only else {r["rule"] for r in existing if r["rule"] not in chosen}
    before = {r["incident_id"]: r for r in existing}
    clocked = frozenset(name for name in judged if measures.measure(chosen[name].table, name).clocked)
    after = incidents.advance(existing, judged, retired, now, clocked)
    result = Evaluation(inputs={})
    result.opened = [r for r in after if r["incident_id"] not in before]
    result.resolved = [r for r in after if r["status"] == incidents.RESOLVED
                       and before.get(r["incident_id"], {}).get("status") == incidents.OPEN]
    scope = set(judged) | retired
    if _by_id(after) != _by_id(r for r in existing if r["rule"] in scope):
        _write(spark, root, after, scope, result)
    still = sum(1 for r in after if r["status"] == incidents.OPEN) - len(result.opened)
    progress(f"{len(judged)} rules judged: {len(result.opened)} incidents opened, {len(result.resolved)} resolved, "
             f"{max(still, 0)} still open")
    if send is not None:
        _send(spark, root, after, scope, send, now, progress, result)
    return result


def _by_id(rows: Iterable[incidents.Incident]) -> dict[str, incidents.Incident]:
    """`rows` by incident id: what a write is compared on before it is made (the rows as read back
    and as advanced are plain Python values, so equal incidents compare equal, which a MERGE's
    except-all over frames built from them did not always find)."""
    return {r["incident_id"]: dict(r) for r in rows}


def _write(spark: SparkSession, root: str, rows: list[incidents.Incident], scope: set[str],
           result: StepResult) -> None:
    """The rules in `scope` hold exactly `rows` in `gold.alerts` (one MERGE of what differs)."""
    if not scope:
        return
    frame = spark.createDataFrame([tuple(r[f.name] for f in schema(TABLE).fields) for r in rows], schema(TABLE))
    rules = spark.createDataFrame([(r,) for r in sorted(scope)], "rule string")
    if delta_changes.replace_slice(spark, frame, root, TABLE, rules):
        result.versions[TABLE] = delta.version(spark, root, TABLE) or 0
        result.rows_out = len(rows)


def _send(spark: SparkSession, root: str, rows: list[incidents.Incident], scope: set[str], send: Send, now: datetime,
          progress: Progress, result: Evaluation) -> None:
    """Each pending opening and resolution sent, then recorded as sent; a failed send stops the
    sending (the rest wait for the next evaluation) after what went is recorded."""
    failure: BaseException | None = None
    for incident, event in incidents.pending(rows):
        try:
            send(incident, event)
        except Exception as err:  # the topic unreachable, refused, throttled: retried next time
            failure = err
            break
        incident[f"notified_{event}_at"] = now
        result.sent += 1
    if result.sent:
        _write(spark, root, rows, scope, result)
        progress(f"{result.sent} notifications sent")
    if failure is not None:
        reason = str(failure) if isinstance(failure, LakehouseError) else describe(failure)
        raise SourceError(f"alert notifications not sent (they are retried by the next evaluation): {reason}")


def open_incidents(spark: SparkSession, root: str) -> list[incidents.Incident]:
    """The open incidents, most severe first, then the latest date first."""
    if not delta.exists(spark, root, TABLE):
        return []
    rank = F.when(F.col("severity") == "critical", 0).when(F.col("severity") == "warning", 1).otherwise(2)
    rows = (delta.read(spark, root, TABLE).where(F.col("status") == incidents.OPEN)
            .orderBy(rank, F.col("date").desc_nulls_first(), "rule", "incident_key").collect())
    return [r.asDict() for r in rows]
