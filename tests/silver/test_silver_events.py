"""Silver enrollment events and biometric validations: validation, first arrival, pseudonymization."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import BRONZE_EVENTS, schema
from lakehouse.silver.events import (
    clean_biometric_validations,
    clean_enrollment_events,
    quarantine_enrollment_events,
    validate_enrollment_events,
)

UTC = dt.UTC
KEY = b"silver-test-key-7d41e0"
T0 = dt.datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
T1 = T0 + dt.timedelta(days=1)
T3 = T0 + dt.timedelta(days=3)
ENR = "0e0e0e0e-1111-4222-8333-444455556666"
E1, E2, E3, E4, E5, E6, E8, E9 = (f"{d * 8}-{d * 4}-4{d * 3}-8{d * 3}-{d * 12}" for d in "12345689")
PII = {"national_id", "full_name", "birth_date"}

EVENT = {
    "event_id": None, "event_type": "enrollment_started", "event_time": "2026-11-20T14:03:11.123Z",
    "schema_version": "1", "enrollment_id": ENR, "national_id": "40718231", "full_name": "Ana Pérez",
    "birth_date": "1990-05-01", "office_id": "OF-0007", "channel": "office", "operator_id": "OP-00031",
    "validation": None, "_raw": "{}", "_source": None, "_ingested_at": T0, "_batch_id": "b1",
    "_file": None, "_file_modified_at": None, "_arrived_at": None, "_parse_error": None,
}
NULLED = dict.fromkeys(["event_id", "event_type", "event_time", "schema_version", "enrollment_id",
                        "national_id", "full_name", "birth_date", "office_id", "channel", "operator_id"])


def _key(national_id: str) -> str:
    return hmac.new(KEY, national_id.encode(), hashlib.sha256).hexdigest()


def _utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def _bronze(spark: SparkSession) -> DataFrame:
    rows: list[dict[str, Any]] = [
        # E1 arrives twice: the backfill copy was ingested a day before the stream copy
        {"event_id": E1, "_source": "stream/shard-1/0002", "_ingested_at": T1, "_batch_id": "b2"},
        {"event_id": E1, "_source": "events/backfill.jsonl:1", "_ingested_at": T0},
        # E2 arrives twice in one batch: the smaller _source wins
        {"event_id": E2, "event_type": "enrollment_completed", "_source": "stream/shard-2/0009"},
        {"event_id": E2, "event_type": "enrollment_completed", "_source": "stream/shard-1/0005"},
        # E3: a late web event stamped +02:00 just after local midnight; unreadable birth date
        {"event_id": E3, "event_time": "2026-11-21T01:30:00.250+02:00", "national_id": "12345678",
         "birth_date": "01/05/1990", "office_id": "OF-0002", "channel": "web", "operator_id": None,
         "_source": "stream/shard-1/0100", "_ingested_at": T3, "_batch_id": "b4",
         "_raw": '{"event_id": "late", "producer_build": "2026.11"}'},
        # E4: a 7-digit national ID
        {"event_id": E4, "national_id": "4071823", "_source": "stream/shard-1/0003"},
        # E5: the first copy is invalid, the retry is valid
        {"event_id": E5, "national_id": "87654321", "channel": "fax", "_source": "stream/shard-1/0004"},
        {"event_id": E5, "national_id": "87654321", "_source": "stream/shard-2/0001", "_ingested_at": T1,
         "_batch_id": "b2"},
        # E6: a validation arriving twice; finished carries +02:00
        {"event_id": E6, "event_type": "biometric_validation", "_source": "stream/shard-1/0007",
         "validation": ("v-1", "face", "match", "0.93", "2026-11-20T14:00:00.100Z",
                        "2026-11-20T16:00:01.350+02:00")},
        {"event_id": E6, "event_type": "biometric_validation", "_source": "stream/shard-3/0001",
         "_ingested_at": T1, "_batch_id": "b2",
         "validation": ("v-1", "face", "match", "0.93", "2026-11-20T14:00:00.100Z",
                        "2026-11-20T16:00:01.350+02:00")},
        # E8: an error result has no score
        {"event_id": E8, "event_type": "biometric_validation", "channel": "mobile", "operator_id": None,
         "_source": "stream/shard-1/0008",
         "validation": ("v-2", "iris", "error", None, "2026-11-20T14:01:00Z", "2026-11-20T14:01:00.007Z")},
        # E9: a score above 1
        {"event_id": E9, "event_type": "biometric_validation", "_source": "stream/shard-1/0009",
         "validation": ("v-3", "fingerprint", "match", "1.5", "2026-11-20T14:02:00Z", "2026-11-20T14:02:01Z")},
        # a record that is not JSON
        {**NULLED, "_source": "events/backfill.jsonl:7", "_raw": '{"event_id": "aaa',
         "_parse_error": "Unexpected end of JSON input"},
    ]
    columns = spark.createDataFrame([], BRONZE_EVENTS).columns
    bronze = spark.createDataFrame([tuple({**EVENT, **r}[c] for c in columns) for r in rows], BRONZE_EVENTS)
    return bronze.withColumn("producer_build", F.lit("2026.11"))  # a field the contract does not name


@pytest.fixture(scope="module")
def validated(spark: SparkSession) -> DataFrame:
    return validate_enrollment_events(_bronze(spark), future_tolerance_minutes=5).cache()


def _names_and_types(df: DataFrame) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def test_validate_keeps_bronze_columns_and_adds_failed_rules(spark: SparkSession, validated: DataFrame) -> None:
    bronze = _bronze(spark).drop("producer_build")
    assert validated.columns == [*bronze.columns, "_failed_rules"]
    assert_df_equality(validated.drop("_failed_rules"), bronze, ignore_row_order=True)


def test_clean_events_one_row_per_event_first_arrival(spark: SparkSession, validated: DataFrame) -> None:
    a, b = _key("40718231"), _key("87654321")
    started = _utc(2026, 11, 20, 14, 3, 11, 123000)
    day = dt.date(2026, 11, 20)
    expected = spark.createDataFrame([
        (E1, "enrollment_started", started, day, 1, ENR, a, 1990, "OF-0007", "office", "OP-00031", None,
         "events/backfill.jsonl:1", T0, "b1"),
        (E2, "enrollment_completed", started, day, 1, ENR, a, 1990, "OF-0007", "office", "OP-00031", None,
         "stream/shard-1/0005", T0, "b1"),
        (E3, "enrollment_started", _utc(2026, 11, 20, 23, 30, 0, 250000), day, 1, ENR, _key("12345678"), None,
         "OF-0002", "web", None, None, "stream/shard-1/0100", T3, "b4"),
        (E5, "enrollment_started", started, day, 1, ENR, b, 1990, "OF-0007", "office", "OP-00031", None,
         "stream/shard-2/0001", T1, "b2"),
        (E6, "biometric_validation", started, day, 1, ENR, a, 1990, "OF-0007", "office", "OP-00031", "v-1",
         "stream/shard-1/0007", T0, "b1"),
        (E8, "biometric_validation", started, day, 1, ENR, a, 1990, "OF-0007", "mobile", None, "v-2",
         "stream/shard-1/0008", T0, "b1"),
    ], schema("silver.enrollment_events"))
    actual = clean_enrollment_events(validated, KEY)
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_clean_events_have_the_silver_columns(validated: DataFrame) -> None:
    # The silver contract written out by hand: no national ID, name or birth date.
    assert _names_and_types(clean_enrollment_events(validated, KEY)) == [
        ("event_id", "string"), ("event_type", "string"), ("event_time", "timestamp"), ("event_date", "date"),
        ("schema_version", "int"), ("enrollment_id", "string"), ("citizen_key", "string"), ("birth_year", "int"),
        ("office_id", "string"), ("channel", "string"), ("operator_id", "string"), ("validation_id", "string"),
        ("_source", "string"), ("_ingested_at", "timestamp"), ("_batch_id", "string")]


def test_clean_biometric_validations(spark: SparkSession, validated: DataFrame) -> None:
    a = _key("40718231")
    event_time = _utc(2026, 11, 20, 14, 3, 11, 123000)
    day = dt.date(2026, 11, 20)
    expected = spark.createDataFrame([
        ("v-1", E6, ENR, a, "OF-0007", "office", event_time, day, "face", "match", 0.93,
         _utc(2026, 11, 20, 14, 0, 0, 100000), _utc(2026, 11, 20, 14, 0, 1, 350000), 1250, T0),
        ("v-2", E8, ENR, a, "OF-0007", "mobile", event_time, day, "iris", "error", None,
         _utc(2026, 11, 20, 14, 1), _utc(2026, 11, 20, 14, 1, 0, 7000), 7, T0),
    ], schema("silver.biometric_validations"))
    actual = clean_biometric_validations(validated, KEY)
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_quarantine_holds_every_failing_arrival(spark: SparkSession, validated: DataFrame) -> None:
    at = dt.datetime(2026, 11, 21, 6, 30, 0, 250000)  # the moment of quarantine, pinned (UTC)
    quarantine = quarantine_enrollment_events(validated, spark.createDataFrame([(at,)], "moment timestamp"))
    # the bronze row as it arrived (personal data included: quarantine is restricted like bronze), plus the verdict
    assert quarantine.columns == [
        "event_id", "event_type", "event_time", "schema_version", "enrollment_id", "national_id", "full_name",
        "birth_date", "office_id", "channel", "operator_id", "validation", "_raw", "_source", "_ingested_at",
        "_batch_id", "_file", "_file_modified_at", "_arrived_at", "_parse_error", "_failed_rules", "_quarantined_at"]
    expected = spark.createDataFrame([
        ("stream/shard-1/0003", "{}", ["national_id_format"], at),
        ("stream/shard-1/0004", "{}", ["channel_known"], at),
        ("stream/shard-1/0009", "{}", ["score_in_range"], at),
        ("events/backfill.jsonl:7", '{"event_id": "aaa', ["record_parseable"], at),
    ], "_source string, _raw string, _failed_rules array<string>, _quarantined_at timestamp")
    assert_df_equality(quarantine.select("_source", "_raw", "_failed_rules", "_quarantined_at"), expected,
                       ignore_nullable=True, ignore_row_order=True)


def test_silver_holds_no_raw_personal_data(validated: DataFrame) -> None:
    raw_values = {"40718231", "12345678", "87654321", "Ana Pérez", "1990-05-01"}
    for out in (clean_enrollment_events(validated, KEY), clean_biometric_validations(validated, KEY)):
        assert not PII & set(out.columns)
        assert "_raw" not in out.columns
        cells = {str(v) for row in out.collect() for v in row}
        assert not raw_values & cells


def test_hmac_key_is_not_in_the_query_plan(validated: DataFrame) -> None:
    for out in (clean_enrollment_events(validated, KEY), clean_biometric_validations(validated, KEY)):
        plan = out._jdf.queryExecution().toString()
        assert "citizen_key" in plan
        for trace in (KEY.decode(), KEY.hex(), str(list(KEY))):
            assert trace not in plan
