"""Reading the landing zone: files exactly as they arrived, on local disk or S3 alike.

Listing and reading go through Spark's own file sources (Hadoop file systems), so the same code
reads `./lakehouse-data/landing` and `s3a://bucket/prefix/landing`.

A landing file is known by its key: its path under the landing root (`events/2026-10-01.jsonl`),
whatever the scheme, bucket or folder the lake lives in. Bronze records keys, so a lake that moves
(another folder, another bucket, `s3://` on EMR and `s3a://` elsewhere) never ingests a file twice.
Text files may be compressed with any codec Hadoop decodes by extension (`CODECS`).
"""
from __future__ import annotations

import bz2
import gzip
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import SourceError
from lakehouse.storage import files

# Compression a text file may carry, by extension: what Spark's text reader (Hadoop's codecs) and
# the driver-side report parser both decode.
CODECS: dict[str, Callable[[bytes], bytes]] = {".gz": gzip.decompress, ".bz2": bz2.decompress,
                                               ".deflate": zlib.decompress}


def _compressed(*patterns: str) -> tuple[str, ...]:
    return (*patterns, *(p + codec for p in patterns for codec in CODECS))


# landing sub-folder -> file name patterns it holds
LANDING_KINDS: dict[str, tuple[str, ...]] = {
    "events": _compressed("*.jsonl", "*.json"),
    "office_reports": (*_compressed("*.csv"), "*.xlsx"),
    "device_logs": _compressed("*.jsonl", "*.json"),
    "documents": ("*",),
}

# The key of a landing file: what follows the first `/landing/<kind>/` of its URI.
_KEY = re.compile(r"^.*?/landing/((?:" + "|".join(LANDING_KINDS) + r")/.+)$")


def landing_key(location: str) -> str:
    """A landing file's key, its path under the landing root, from its URI (or from a key: unchanged).

    Example: ``file:/srv/lake/landing/events/a.jsonl`` and ``s3a://b/p/landing/events/a.jsonl`` ->
    ``events/a.jsonl``.
    """
    found = _KEY.match(location)
    return found.group(1) if found else location


def landing_key_column(location: Column) -> Column:
    """`landing_key` as a Column expression."""
    return F.coalesce(F.nullif(F.regexp_extract(location, _KEY.pattern, 1), F.lit("")), location)


def decompress(key: str, content: bytes) -> bytes:
    """The bytes of a file as written before compression (unchanged when its name names no codec)."""
    for codec, decode in CODECS.items():
        if key.lower().endswith(codec):
            return decode(content)
    return content


@dataclass(frozen=True)
class LandedFile:
    """A landing file: `path` is its URI (to read it), `key` its identity (`landing_key`)."""

    path: str
    size: int
    modified_at: datetime

    @property
    def key(self) -> str:
        return landing_key(self.path)


def landing_dir(root: str, kind: str) -> str:
    return f"{root.rstrip('/')}/landing/{kind}"


def check_landing(spark: SparkSession, root: str) -> None:
    """Fail with a clear message when the landing folder itself is missing."""
    where = f"{root.rstrip('/')}/landing"
    if not files.exists(spark, where):
        raise SourceError(f"landing folder not found: {where} (run `lakehouse generate` or copy files there)")


def list_files(spark: SparkSession, root: str, kind: str) -> list[LandedFile]:
    """Every file under landing/<kind> matching the kind's patterns, sorted by path."""
    folder = landing_dir(root, kind)
    if not files.exists(spark, folder):
        return []
    found: dict[str, LandedFile] = {}
    for pattern in LANDING_KINDS[kind]:
        listing = (
            spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", pattern)
            .load(folder)
            .select("path", "length", "modificationTime")
        )
        for row in listing.collect():
            found[row["path"]] = LandedFile(row["path"], int(row["length"]), row["modificationTime"])
    return [found[p] for p in sorted(found)]


def read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """One row per line of the given text files: `_file` (the key), `_file_modified_at`, `line_no`
    (1-based), `line`. Compressed files are decompressed by their extension.

    A trailing newline does not make an extra line; Windows line ends are trimmed. Blank lines
    carry no record and are dropped.
    """
    whole = spark.read.text(paths, wholetext=True)
    return (
        whole.select(
            landing_key_column(F.col("_metadata.file_path")).alias("_file"),
            F.col("_metadata.file_modification_time").alias("_file_modified_at"),
            F.posexplode(F.split("value", "\n")).alias("pos", "line"),
        )
        .select("_file", "_file_modified_at", (F.col("pos") + 1).alias("line_no"),
                F.regexp_replace("line", "\r$", "").alias("line"))
        .where(F.trim("line") != "")
    )


def read_bytes(spark: SparkSession, paths: list[str]) -> list[tuple[str, datetime, bytes]]:
    """The bytes of small files (reports), read on the driver and decompressed: (key, modified_at, content)."""
    if not paths:
        return []
    rows = spark.read.format("binaryFile").load(paths).select("path", "modificationTime", "content").collect()
    return sorted((landing_key(r["path"]), r["modificationTime"], decompress(r["path"], bytes(r["content"])))
                  for r in rows)


INVENTORY_DDL = "path string, size bigint, sha256 string, modified_at timestamp"


def read_inventory(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Document inventory for the given files: path (the key), size, sha256, modified_at (hashed in the JVM)."""
    return spark.read.format("binaryFile").load(paths).select(
        landing_key_column(F.col("path")).alias("path"),
        F.col("length").alias("size"),
        F.sha2(F.col("content"), 256).alias("sha256"),
        F.col("modificationTime").alias("modified_at"),
    )
