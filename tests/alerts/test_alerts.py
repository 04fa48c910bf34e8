"""Alert rules judged into incidents: each condition planted in hand-written gold and ops rows.

Every expected incident below is worked out by hand from the rows the test writes and the rule's
threshold; the SNS messages are read back from an SQS queue subscribed to the topic on the
session's moto server (a real SNS -> SQS delivery, not a stand-in object).
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakehouse import alerts, app
from lakehouse.alerts.incidents import incident_id
from lakehouse.aws.clients import client
from lakehouse.config import AlertRule, load_config
from lakehouse.contract import conform, schema
from lakehouse.errors import ConfigError, SourceError
from lakehouse.local.aws import LocalAws
from lakehouse.storage import delta

# Now, to the second: bronze's stream batches are found by their commit's time, the real one.
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
D1, D2 = date(2026, 10, 19), date(2026, 10, 20)

MATCH = AlertRule("gold.kpi_validation_times_daily", "match_rate", "below", 0.70, "critical",
                  volume="validations", min_volume=25)
P95 = AlertRule("gold.kpi_validation_times_daily", "p95_ms", "above", 6000.0, "warning",
                volume="validations", min_volume=25)
DROP = AlertRule("gold.kpi_enrollments_daily", "completion_rate", "falls_by", 0.20, grain=("date", "region"),
                 volume="enrollments_started", min_volume=20, window_days=7)
QUARANTINE = AlertRule("ops.quarantine_share", "share", "above", 0.05, volume="records", min_volume=50)
STALE = AlertRule("ops.freshness", "age_minutes", "above", 120.0, "critical",
                  only={"step": ("ingest", "silver", "gold")})
LAG = AlertRule("ops.stream_lag", "lag_seconds", "above", 300.0)
RULES = {"match_rate_low": MATCH, "validation_p95_high": P95, "completion_rate_drop": DROP,
         "quarantine_share_high": QUARANTINE, "batch_stale": STALE, "stream_lag_high": LAG}


def _frame(spark: SparkSession, name: str, rows: list[dict[str, Any]]) -> DataFrame:
    """`rows` (some of the table's columns each) in the table's schema, the other columns null."""
    fields = schema(name).fields
    return conform(spark.createDataFrame([tuple(r.get(f.name) for f in fields) for r in rows], schema(name)), name)


def _validations(day: date, region: str, modality: str, validations: int, matches: int, no_matches: int,
                 p95: float) -> dict[str, Any]:
    return {"date": day, "region": region, "modality": modality, "validations": validations, "matches": matches,
            "no_matches": no_matches, "errors": validations - matches - no_matches,
            "match_rate": matches / (matches + no_matches), "p50_ms": p95 / 2, "p95_ms": p95, "avg_ms": p95 / 2}


def _enrollments(day: date, region: str, channel: str, started: int, completed: int) -> dict[str, Any]:
    return {"date": day, "region": region, "channel": channel, "enrollments_started": started,
            "enrollments_completed": completed, "enrollments_cancelled": 0, "completion_rate": completed / started}


def _quality(run: str, at: datetime, table: str, passed: int, failed: int) -> dict[str, Any]:
    return {"run_id": run, "recorded_at": at, "table_name": table, "rule": "*", "severity": "total",
            "passed": passed, "failed": failed, "duplicates_dropped": 0}


def _run(step: str, finished: datetime, status: str = "succeeded") -> dict[str, Any]:
    return {"run_id": f"{step}-{finished:%H%M%S}", "step": step, "started_at": finished - timedelta(minutes=1),
            "finished_at": finished, "status": status, "rows_in": 0, "rows_out": 0, "rows_quarantined": 0}


def _stream_batch(batch: str, ingested: datetime, arrivals: list[datetime]) -> list[dict[str, Any]]:
    return [{"event_id": f"e-{batch}-{i}", "_batch_id": batch, "_ingested_at": ingested, "_arrived_at": a,
             "_source": f"kinesis:{batch}:{i}"} for i, a in enumerate(arrivals)]


class Topic:
    """An SNS topic on the moto server with an SQS queue subscribed: what was sent, read back."""

    def __init__(self, aws: LocalAws) -> None:
        self.name = f"alerts-{uuid.uuid4().hex[:8]}"
        sns, self.sqs = client("sns", "us-east-1", aws.url), client("sqs", "us-east-1", aws.url)
        arn = sns.create_topic(Name=self.name)["TopicArn"]
        self.queue = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])

    def received(self) -> list[dict[str, Any]]:
        """Every message delivered since the last call: its subject and its parsed body."""
        out = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return out
            for m in batch:
                envelope = json.loads(m["Body"])
                out.append({"subject": envelope["Subject"], **json.loads(envelope["Message"])})
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture(scope="module")
def topic(local_aws: LocalAws) -> Topic:
    return Topic(local_aws)


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Gold and ops rows in which each default kind of condition breaks once, and once does not."""
    root = str(tmp_path_factory.mktemp("alerts_lake"))
    validations = [
        _validations(D1, "NORTE", "face", 40, 26, 14, 3000.0),      # 0.65 < 0.70, 40 >= 25: breaks
        _validations(D1, "SUR", "face", 3, 1, 2, 3000.0),           # 0.33 but 3 < 25: not judged
        _validations(D1, "NORTE", "iris", 40, 38, 2, 7000.0),       # p95 7000 > 6000: breaks
        _validations(D1, "SUR", "iris", 30, 29, 1, 5999.0),         # neither
    ]
    enrollments = []
    for back in range(1, 8):  # 7 days of NORTE at 0.9 on 50 started, before D2
        day = D2 - timedelta(days=back)
        enrollments += [_enrollments(day, "NORTE", "web", 30, 27), _enrollments(day, "NORTE", "office", 20, 18)]
        enrollments += [_enrollments(day, "SUR", "web", 30, 27)]
    # D2: NORTE web 15/30 and office 12/20: weighted (0.5*30 + 0.6*20) / 50 = 0.54, 0.36 under 0.9
    enrollments += [_enrollments(D2, "NORTE", "web", 30, 15), _enrollments(D2, "NORTE", "office", 20, 12)]
    enrollments += [_enrollments(D2, "SUR", "web", 30, 24)]  # 0.8: 0.1 under 0.9, within 0.2
    delta.sync(spark, _frame(spark, "gold.kpi_validation_times_daily", validations), root,
               "gold.kpi_validation_times_daily")
    delta.sync(spark, _frame(spark, "gold.kpi_enrollments_daily", enrollments), root, "gold.kpi_enrollments_daily")
    quality = [_quality("run-1", NOW - timedelta(hours=1), "silver.enrollment_events", 900, 100),  # 0.1 > 0.05
               _quality("run-1", NOW - timedelta(hours=1), "silver.office_reports", 99, 1),        # 0.01
               _quality("run-1", NOW - timedelta(hours=1), "silver.device_logs", 10, 10)]          # 20 < 50
    delta.append(_frame(spark, "ops.quality_metrics", quality), root, "ops.quality_metrics")
    runs = [_run("ingest", NOW - timedelta(minutes=10)), _run("silver", NOW - timedelta(minutes=9)),
            _run("gold", NOW - timedelta(hours=3)),                       # 180 min > 120: breaks
            _run("gold", NOW - timedelta(minutes=5), status="failed"),    # a failed run is not fresh
            _run("export", NOW - timedelta(hours=5))]                     # not a step the rule judges
    delta.append(_frame(spark, "ops.pipeline_runs", runs), root, "ops.pipeline_runs")
    events = (_stream_batch("stream-1", NOW - timedelta(minutes=30), [NOW - timedelta(minutes=31)])
              + _stream_batch("stream-2", NOW - timedelta(minutes=2),    # the latest: 400 s behind its oldest
                              [NOW - timedelta(minutes=2, seconds=400), NOW - timedelta(minutes=2, seconds=10)])
              + [{"event_id": "e-file", "_batch_id": "run-x", "_ingested_at": NOW, "_arrived_at": None,
                  "_source": "landing/f.jsonl:1"}])  # a batch file, later than the stream: not the stream's
    delta.append(_frame(spark, "bronze.enrollment_events", events), root, "bronze.enrollment_events")
    return root


def _open(spark: SparkSession, root: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["rule"], r["incident_key"]): r for r in alerts.open_incidents(spark, root)}


def _sender(aws: LocalAws, topic: Topic) -> Any:
    config = load_config("local", {"aws.endpoint_url": aws.url, "alerts.topic": topic.name})
    return app.sns_sender(config, aws.url)


FIRST = {
    ("match_rate_low", "date=2026-10-19, region=NORTE, modality=face"),
    ("validation_p95_high", "date=2026-10-19, region=NORTE, modality=iris"),
    ("completion_rate_drop", "date=2026-10-20, region=NORTE"),
    ("quarantine_share_high", "table_name=silver.enrollment_events"),
    ("batch_stale", "step=gold"),
    ("stream_lag_high", "stream=kinesis"),
}


def test_each_planted_condition_opens_exactly_its_incident_and_sends_it_once(
        spark: SparkSession, lake: str, local_aws: LocalAws, topic: Topic) -> None:
    send = _sender(local_aws, topic)
    first = alerts.evaluate(spark, lake, RULES, NOW, send)
    assert {(r["rule"], r["incident_key"]) for r in first.opened} == FIRST
    opened = _open(spark, lake)
    assert set(opened) == FIRST
    drop = opened[("completion_rate_drop", "date=2026-10-20, region=NORTE")]
    assert drop["value"] == pytest.approx(0.54) and drop["baseline"] == pytest.approx(0.9)
    assert drop["volume"] == 50 and drop["region"] == "NORTE" and drop["date"] == D2
    assert opened[("batch_stale", "step=gold")]["value"] == pytest.approx(180.0)
    assert opened[("stream_lag_high", "stream=kinesis")]["value"] == pytest.approx(400.0)
    assert opened[("quarantine_share_high", "table_name=silver.enrollment_events")]["value"] == pytest.approx(0.1)
    match = opened[("match_rate_low", "date=2026-10-19, region=NORTE, modality=face")]
    assert match["incident_id"] == incident_id("match_rate_low", match["incident_key"], 1)
    assert match["severity"] == "critical" and match["status"] == "open" and match["opened_at"] == NOW
    assert match["notified_opened_at"] == NOW
    messages = topic.received()
    assert sorted(m["subject"] for m in messages) == sorted(
        f"[{RULES[rule].severity}] {rule} opened: {key}"[:100] for rule, key in FIRST)
    assert all(m["event"] == "opened" and m["status"] == "open" for m in messages)

    # The same data again, later: nothing committed, nothing sent, the incidents as they were.
    version = delta.version(spark, lake, alerts.TABLE)
    again = alerts.evaluate(spark, lake, RULES, NOW + timedelta(minutes=1), send)
    assert not again.opened and not again.resolved and again.sent == 0
    assert delta.version(spark, lake, alerts.TABLE) == version
    assert topic.received() == []


def test_a_key_judged_again_and_fine_resolves_and_a_new_breach_opens(
        spark: SparkSession, lake: str, local_aws: LocalAws, topic: Topic) -> None:
    send = _sender(local_aws, topic)
    later = NOW + timedelta(hours=1)
    # NORTE face now 0.9 (fine); SUR face grows to 30 validations at 0.4: judged, and breaks
    fixed = [_validations(D1, "NORTE", "face", 40, 36, 4, 3000.0), _validations(D1, "SUR", "face", 30, 12, 18, 3000.0),
             _validations(D1, "NORTE", "iris", 40, 38, 2, 7000.0), _validations(D1, "SUR", "iris", 30, 29, 1, 5999.0)]
    delta.sync(spark, _frame(spark, "gold.kpi_validation_times_daily", fixed), lake, "gold.kpi_validation_times_daily")
    delta.append(_frame(spark, "ops.pipeline_runs", [_run("gold", later - timedelta(minutes=1))]), lake,
                 "ops.pipeline_runs")
    result = alerts.evaluate(spark, lake, RULES, later, send)
    assert {(r["rule"], r["incident_key"]) for r in result.opened} == {
        ("match_rate_low", "date=2026-10-19, region=SUR, modality=face")}
    assert {(r["rule"], r["incident_key"]) for r in result.resolved} == {
        ("match_rate_low", "date=2026-10-19, region=NORTE, modality=face"), ("batch_stale", "step=gold")}
    rows = {r["incident_id"]: r for r in delta.read(spark, lake, alerts.TABLE).collect()}
    north = rows[incident_id("match_rate_low", "date=2026-10-19, region=NORTE, modality=face", 1)]
    assert north["status"] == "resolved" and north["resolved_at"] == later and north["value"] == pytest.approx(0.9)
    assert north["notified_resolved_at"] == later
    # the other incidents are still open, untouched (the stream's lag is the same batch, 60 min later)
    p95 = rows[incident_id("validation_p95_high", "date=2026-10-19, region=NORTE, modality=iris", 1)]
    assert p95["status"] == "open" and p95["updated_at"] == NOW
    assert sorted(m["subject"] for m in topic.received()) == sorted([
        "[critical] match_rate_low opened: date=2026-10-19, region=SUR, modality=face",
        "[critical] match_rate_low resolved: date=2026-10-19, region=NORTE, modality=face",
        "[critical] batch_stale resolved: step=gold"])

    # NORTE face breaks again: a new incident (the second of that key), not the resolved one reopened
    broken = [_validations(D1, "NORTE", "face", 40, 20, 20, 3000.0), *fixed[1:]]
    delta.sync(spark, _frame(spark, "gold.kpi_validation_times_daily", broken), lake, "gold.kpi_validation_times_daily")
    result = alerts.evaluate(spark, lake, RULES, later + timedelta(minutes=5), send)
    key = "date=2026-10-19, region=NORTE, modality=face"
    assert [r["incident_id"] for r in result.opened] == [incident_id("match_rate_low", key, 2)]
    assert [m["subject"] for m in topic.received()] == [f"[critical] match_rate_low opened: {key}"]


def test_a_rule_taken_out_of_config_resolves_its_open_incidents(
        spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    delta.sync(spark, _frame(spark, "gold.kpi_validation_times_daily",
                             [_validations(D1, "NORTE", "face", 40, 20, 20, 3000.0)]), root,
               "gold.kpi_validation_times_daily")
    assert len(alerts.evaluate(spark, root, {"match_rate_low": MATCH}, NOW).opened) == 1
    off = {"match_rate_low": dataclasses.replace(MATCH, enabled=False)}
    result = alerts.evaluate(spark, root, off, NOW + timedelta(hours=1))
    assert [r["rule"] for r in result.resolved] == ["match_rate_low"]
    assert alerts.open_incidents(spark, root) == []
    row = delta.read(spark, root, alerts.TABLE).first()
    assert row is not None and row["message"].endswith("[rule no longer configured]")
    assert row["notified_opened_at"] is None  # no topic: recorded, not sent


def test_the_stream_judges_only_freshness_and_lag(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    delta.sync(spark, _frame(spark, "gold.kpi_validation_times_daily",
                             [_validations(D1, "NORTE", "face", 40, 20, 20, 3000.0)]), root,
               "gold.kpi_validation_times_daily")
    delta.append(_frame(spark, "ops.pipeline_runs", [_run("gold", NOW - timedelta(hours=3))]), root,
                 "ops.pipeline_runs")
    delta.append(_frame(spark, "bronze.enrollment_events",
                        _stream_batch("stream-9", NOW, [NOW - timedelta(seconds=301)])), root,
                 "bronze.enrollment_events")
    rules = {name: RULES[name] for name in ("match_rate_low", "batch_stale", "stream_lag_high")}
    result = alerts.evaluate(spark, root, rules, NOW, ops_only=True)
    assert {r["rule"] for r in result.opened} == {"batch_stale", "stream_lag_high"}
    # the gold build's evaluation then judges the KPI rule too, and leaves the stream's incidents be
    result = alerts.evaluate(spark, root, rules, NOW)
    assert [r["rule"] for r in result.opened] == ["match_rate_low"] and not result.resolved


def test_a_failed_send_is_a_clear_error_and_is_retried_by_the_next_evaluation(
        spark: SparkSession, tmp_path: Path, local_aws: LocalAws) -> None:
    root, topic = str(tmp_path), Topic(local_aws)
    delta.sync(spark, _frame(spark, "gold.kpi_validation_times_daily",
                             [_validations(D1, "NORTE", "face", 40, 20, 20, 3000.0),
                              _validations(D1, "SUR", "face", 40, 20, 20, 3000.0)]), root,
               "gold.kpi_validation_times_daily")
    sent: list[str] = []
    real = _sender(local_aws, topic)

    def flaky(incident: dict[str, Any], event: str) -> None:
        if sent:  # the second send fails, as an unreachable topic would
            raise ConnectionError("topic unreachable")
        real(incident, event)
        sent.append(incident["incident_key"])

    with pytest.raises(SourceError, match="alert notifications not sent .*topic unreachable"):
        alerts.evaluate(spark, root, {"match_rate_low": MATCH}, NOW, flaky)
    assert len(topic.received()) == 1
    retry = alerts.evaluate(spark, root, {"match_rate_low": MATCH}, NOW + timedelta(minutes=1), real)
    assert retry.sent == 1 and not retry.opened
    [message] = topic.received()
    assert message["incident_key"] not in sent  # the one that failed, not the one already sent


@pytest.mark.parametrize(("change", "error"), [
    ({"table": "gold.nope"}, r"alerts.rules.r.table: unknown table 'gold.nope'"),
    ({"column": "nope"}, r"alerts.rules.r.column: gold.kpi_validation_times_daily has no column 'nope'"),
    ({"grain": ("date", "office_id")}, r"alerts.rules.r.grain: \['date', 'office_id'\] must be columns of the key"),
    ({"grain": ("date", "region"), "volume": None}, r"needs `volume` to weight by"),
    ({"grain": ("region", "modality"), "condition": "falls_by"}, r"falls_by compares dates, so its grain needs"),
    ({"only": {"step": ("gold",)}}, r"alerts.rules.r.only: 'step' is not a key column"),
])
def test_a_bad_rule_is_a_one_line_config_error(spark: SparkSession, lake: str, change: dict[str, Any],
                                                error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        alerts.evaluate(spark, lake, {"r": dataclasses.replace(MATCH, **change)}, NOW)


def test_the_config_loads_the_default_rules_and_refuses_a_bad_one(tmp_path: Path) -> None:
    config = load_config("local")
    assert set(config.alerts.rules) == set(RULES)
    assert config.alerts.rules["batch_stale"].only == {"step": ("ingest", "silver", "gold")}
    assert config.alerts.rules["match_rate_low"].threshold == 0.70
    with pytest.raises(ConfigError, match=r"'alerts.rules.match_rate_low.condition' must be one of below, above"):
        load_config("local", {"alerts.rules.match_rate_low.condition": "lower"})
    with pytest.raises(ConfigError, match=r"'alerts.rules.match_rate_low.threshold' must be a number, got 'x'"):
        load_config("local", {"alerts.rules.match_rate_low.threshold": "x"})
    with pytest.raises(ConfigError, match=r"'alerts.rules.batch_stale.only.step' must be a list"):
        load_config("local", {"alerts.rules.batch_stale.only": {"step": "gold"}})
    assert load_config("local", {"alerts.rules.match_rate_low.enabled": False}).alerts.rules[
        "match_rate_low"].enabled is False


def test_open_alerts_are_listed_most_severe_first(spark: SparkSession, lake: str) -> None:
    rows = alerts.open_incidents(spark, lake)
    ranks = [{"critical": 0, "warning": 1, "info": 2}[r["severity"]] for r in rows]
    assert ranks == sorted(ranks) and rows
