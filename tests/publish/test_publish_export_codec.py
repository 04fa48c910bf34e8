"""The binary COPY codec against bytes written out by hand from PostgreSQL's "COPY Binary Format".

Per row: a 16-bit field count; per field a 32-bit length (-1: NULL, no bytes follow) and the value,
big-endian. int2/int4/int8 are two's complement, float4/float8 IEEE 754, bool one byte, text its
UTF-8 bytes, bytea its bytes, date the days and timestamp(tz) the microseconds since 2000-01-01.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from lakehouse.publish.export.copy_codec import COPY_HEADER, COPY_TRAILER, copy_rows


def test_header_and_trailer() -> None:
    # 11-byte signature "PGCOPY\n\377\r\n\0", 32-bit flags 0 (no OIDs), 32-bit header extension length 0
    assert COPY_HEADER == bytes.fromhex("5047 434f 5059 0a ff 0d 0a 00" "0000 0000" "0000 0000")
    assert COPY_TRAILER == bytes.fromhex("ffff")  # a field count of -1 ends the data


def test_one_row_of_every_common_kind() -> None:
    batch = pa.RecordBatch.from_arrays([
        pa.array([1], pa.int32()),
        pa.array([None], pa.string()),
        pa.array(["ab"], pa.string()),
        pa.array([date(2000, 1, 2)], pa.date32()),
        pa.array([datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        pa.array([True], pa.bool_()),
        pa.array([1.5], pa.float64()),
        pa.array([-2], pa.int64()),
    ], names=["i", "n", "s", "d", "ts", "b", "f", "l"])

    encoded = copy_rows(batch, ["int", "string", "string", "date", "timestamp", "boolean", "double", "bigint"])

    assert bytes(encoded) == bytes.fromhex(
        "0008"                                   # 8 fields
        "00000004 00000001"                      # int4 1
        "ffffffff"                               # NULL: length -1, no value
        "00000002 6162"                          # text 'ab'
        "00000004 00000001"                      # date 2000-01-02: day 1 after 2000-01-01
        "00000008 00000000000f4240"              # timestamptz 00:00:01 UTC: 1,000,000 us = 0x0f4240
        "00000001 01"                            # bool true
        "00000008 3ff8000000000000"              # float8 1.5: exponent 0x3ff, mantissa .1 (binary)
        "00000008 fffffffffffffffe"              # int8 -2, two's complement
    )


def test_rows_before_2000_nulls_of_every_width_and_widening() -> None:
    batch = pa.RecordBatch.from_arrays([
        pa.array([-1, None], pa.int8()),
        pa.array([0.5, None], pa.float32()),
        pa.array([date(1999, 12, 31), None], pa.date32()),
        pa.array([datetime(1999, 12, 31, 23, 59, 59, 999999), None], pa.timestamp("us")),
        pa.array([False, None], pa.bool_()),
        pa.array(["", "ñ"], pa.string()),
        pa.array([b"\x00\xff", None], pa.binary()),
        pa.array([None, 2**31 - 1], pa.int32()),
    ], names=["t", "r", "d", "ts", "b", "s", "x", "i"])
    kinds = ["tinyint", "float", "date", "timestamp_ntz", "boolean", "string", "binary", "int"]
    first = bytes.fromhex(
        "0008"
        "00000002 ffff"                          # tinyint -1 sent as int2
        "00000004 3f000000"                      # float4 0.5: exponent 126 = 0x7e
        "00000004 ffffffff"                      # date 1999-12-31: day -1
        "00000008 ffffffffffffffff"              # timestamp 1999-12-31 23:59:59.999999: -1 us
        "00000001 00"                            # bool false
        "00000000"                               # text '': length 0, not NULL
        "00000002 00ff"                          # bytea
        "ffffffff"                               # int4 NULL
    )
    second = bytes.fromhex(
        "0008"
        "ffffffff ffffffff ffffffff ffffffff ffffffff"  # NULL int2, float4, date, timestamp, bool
        "00000002 c3b1"                          # text 'ñ': UTF-8 c3 b1
        "ffffffff"                               # bytea NULL
        "00000004 7fffffff"                      # int4 2^31 - 1
    )

    assert bytes(copy_rows(batch, kinds)) == first + second
    assert bytes(copy_rows(batch.slice(1), kinds)) == second
