"""Column helpers: small `Column -> Column` functions the silver layer and the quality rules share.

Spark 4 runs with ANSI mode on, where a plain `cast` of bad input raises; every parser here uses a
`try_` variant instead, so bad input becomes null and a quality rule can name it.
"""
from __future__ import annotations

import hashlib
import hmac

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

# ISO-8601 date-times with an explicit offset: 'Z', '+02:00' (XXX) or '+0200' (XX), with 0 to 9
# fraction digits. A time without an offset is ambiguous and so not parseable.
_ISO_TIMESTAMP_FORMATS = (
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSSSSS]XXX",
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSSSSS]XX",
)
_ISO_DATE_FORMAT = "yyyy-MM-dd"
_UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Wide enough for any count or score we receive; a decimal (unlike a double) rejects NaN and Infinity.
_NUMBER = T.DecimalType(38, 9)


def parse_timestamp(col: Column) -> Column:
    """Parse an ISO-8601 date-time with an offset into a UTC timestamp.

    Args:
        col: a string column such as "2026-11-20T14:03:11.123+02:00" or "2026-11-20T14:03:11Z".

    Returns:
        A timestamp column (12:03:11.123 UTC for the first example); null when the input is null,
        malformed, an impossible date, or carries no offset.
    """
    return F.coalesce(*[F.try_to_timestamp(col, F.lit(fmt)) for fmt in _ISO_TIMESTAMP_FORMATS])


def parse_date(col: Column) -> Column:
    """Parse an ISO-8601 calendar date ("2026-11-20") into a date; null when unparseable."""
    return F.try_to_date(col, _ISO_DATE_FORMAT)


def parse_number(col: Column) -> Column:
    """Parse a decimal number ("7.5", "12", "1e3") into a double; null for text, NaN and Infinity."""
    return col.try_cast(_NUMBER).cast(T.DoubleType())


def parse_count(col: Column) -> Column:
    """Parse a whole number ("12", "12.0") into an int; null for fractions, text and overflow."""
    number = col.try_cast(_NUMBER)
    return F.when(number == F.floor(number), number.try_cast(T.IntegerType()))


def is_uuid(col: Column) -> Column:
    """True when the string is a canonical 8-4-4-4-12 hexadecimal UUID; null in, null out."""
    return col.rlike(_UUID_PATTERN)


def is_present(col: Column) -> Column:
    """True when the string is neither null nor blank."""
    return col.isNotNull() & (F.trim(col) != "")


def citizen_key(col: Column, key: bytes) -> Column:
    """Pseudonymize a national ID: lowercase hex HMAC-SHA256 of the ID (UTF-8) under `key`.

    The key lives only in the closure of a pandas UDF, so it never appears in a literal, a query
    plan or `explain()` output.

    Args:
        col: the national ID, e.g. "40718231".
        key: the secret HMAC key.

    Returns:
        A 64-character hex string column; null when the ID is null.
    """

    def digest(national_id: object) -> str | None:
        if pd.isna(national_id):
            return None
        return hmac.new(key, str(national_id).encode("utf-8"), hashlib.sha256).hexdigest()

    @F.pandas_udf(T.StringType())  # type: ignore[call-overload]
    def citizen_key(national_ids: pd.Series) -> pd.Series:
        return national_ids.map(digest).astype(object)

    return citizen_key(col)


def stamp(df: DataFrame, name: str, moment: DataFrame) -> DataFrame:
    """Add column `name`: the one timestamp of `moment` (a one-row, one-column frame) on every row.

    The moment comes as a frame, not a literal: generated code inlines a timestamp literal, so a
    stream whose batches each stamped "now" would compile its stages anew every batch. The
    pipeline passes a one-row inline table instead (`pipeline.clock.moment`), broadcast from the
    driver, and the compiled stages are reused batch after batch.

    Example: rows (a), (b) and moment (2026-11-20 10:00) -> (a, 2026-11-20 10:00), (b, 2026-11-20 10:00).
    """
    return df.crossJoin(F.broadcast(moment.select(F.col(moment.columns[0]).cast("timestamp").alias(name))))
