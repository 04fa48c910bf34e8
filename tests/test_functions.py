"""Column helpers: parsers, UUID check and the citizen key."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.functions import (
    citizen_key,
    is_uuid,
    parse_count,
    parse_date,
    parse_number,
    parse_timestamp,
    stamp,
)
from lakehouse.pipeline.clock import moment

UTC = dt.UTC
KEY = b"unit-test-secret-3f9a1c"


def _utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def test_parse_timestamp_converts_any_offset_to_utc(spark: SparkSession) -> None:
    rows = [
        ("2026-11-20T14:03:11.123Z", _utc(2026, 11, 20, 14, 3, 11, 123000)),
        ("2026-11-20T14:03:11.123+02:00", _utc(2026, 11, 20, 12, 3, 11, 123000)),
        ("2026-11-20T01:00:00-05:30", _utc(2026, 11, 20, 6, 30)),
        ("2026-11-20T14:03:11+0200", _utc(2026, 11, 20, 12, 3, 11)),
        ("2026-11-20T14:03:11.123456Z", _utc(2026, 11, 20, 14, 3, 11, 123456)),
        ("2026-11-20T14:03:11", None),  # no offset: ambiguous
        ("2026-11-20", None),
        ("2026-02-30T10:00:00Z", None),
        ("not a time", None),
        ("", None),
        (None, None),
    ]
    df = spark.createDataFrame(rows, "s string, expected timestamp")
    actual = df.select("s", parse_timestamp(F.col("s")).alias("expected"))
    assert_df_equality(actual, df, ignore_nullable=True)


def test_parse_date_number_and_count(spark: SparkSession) -> None:
    rows = [
        ("2026-11-20", dt.date(2026, 11, 20), None, None),
        ("12", None, 12.0, 12),
        ("12.0", None, 12.0, 12),
        ("7.5", None, 7.5, None),
        ("-3", None, -3.0, -3),
        ("1e3", None, 1000.0, 1000),
        ("NaN", None, None, None),
        ("Infinity", None, None, None),
        ("99999999999", None, 99999999999.0, None),  # beyond int
        ("2026-02-30", None, None, None),
        ("abc", None, None, None),
        (None, None, None, None),
    ]
    df = spark.createDataFrame(rows, "s string, d date, n double, c int")
    actual = df.select(
        "s",
        parse_date(F.col("s")).alias("d"),
        parse_number(F.col("s")).alias("n"),
        parse_count(F.col("s")).alias("c"),
    )
    assert_df_equality(actual, df, ignore_nullable=True)


def test_is_uuid(spark: SparkSession) -> None:
    rows = [
        ("8c1f2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", True),
        ("8C1F2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B", True),
        ("8c1f2a3b4d5e4f608a7b9c0d1e2f3a4b", False),
        ("8c1f2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4bz", False),
        ("e-1", False),
        (None, None),
    ]
    df = spark.createDataFrame(rows, "s string, ok boolean")
    assert_df_equality(df.select("s", is_uuid(F.col("s")).alias("ok")), df, ignore_nullable=True)


def test_citizen_key_is_hmac_sha256_hex(spark: SparkSession) -> None:
    ids = ["40718231", "00000001", None]
    expected = [
        (i, None if i is None else hmac.new(KEY, i.encode(), hashlib.sha256).hexdigest()) for i in ids
    ]
    df = spark.createDataFrame([(i,) for i in ids], "national_id string")
    actual = df.select("national_id", citizen_key(F.col("national_id"), KEY).alias("citizen_key"))
    assert_df_equality(
        actual, spark.createDataFrame(expected, "national_id string, citizen_key string"),
        ignore_nullable=True, ignore_row_order=True,
    )


def test_citizen_key_depends_on_the_key(spark: SparkSession) -> None:
    df = spark.createDataFrame([("40718231",)], "national_id string")
    one, other = (
        df.select(citizen_key(F.col("national_id"), k).alias("k")).first()["k"]  # type: ignore[index]
        for k in (KEY, KEY + b"x")
    )
    assert one != other
    assert len(one) == 64 and one == one.lower()


def test_citizen_key_leaves_no_trace_of_the_key_in_the_plan(spark: SparkSession) -> None:
    df = spark.createDataFrame([("40718231",)], "national_id string")
    out = df.select(citizen_key(F.col("national_id"), KEY).alias("citizen_key"))
    plan = out._jdf.queryExecution().toString()
    assert "citizen_key" in plan  # the plan is really the one computing the key
    for trace in (KEY.decode(), KEY.hex(), str(list(KEY))):
        assert trace not in plan


def test_stamp_puts_one_moment_on_every_row(spark: SparkSession) -> None:
    at = dt.datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    rows = stamp(spark.createDataFrame([("a",), ("b",)], "x string"), "_at", moment(spark, at)).collect()
    # 10:00:00.123456+02:00 is 08:00:00.123456 UTC; the session time zone is UTC.
    assert sorted((r["x"], r["_at"]) for r in rows) == [
        ("a", dt.datetime(2026, 11, 20, 8, 0, 0, 123456)), ("b", dt.datetime(2026, 11, 20, 8, 0, 0, 123456))]
    before = dt.datetime.now(UTC).replace(tzinfo=None)
    [now_row] = stamp(spark.range(1), "_at", moment(spark)).collect()
    assert before - dt.timedelta(seconds=1) <= now_row["_at"] <= dt.datetime.now(UTC).replace(tzinfo=None)
