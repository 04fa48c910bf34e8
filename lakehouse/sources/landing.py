"""Reading the landing zone: files exactly as they arrived, on local disk or S3 alike.

Listing and reading go through Spark's own file sources (Hadoop file systems), so the same code
reads `./lakehouse-data/landing` and `s3://bucket/prefix/landing`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import SourceError
from lakehouse.storage import files

# landing sub-folder -> file name patterns it holds
LANDING_KINDS: dict[str, tuple[str, ...]] = {
    "events": ("*.jsonl", "*.json"),
    "office_reports": ("*.csv", "*.xlsx"),
    "device_logs": ("*.jsonl", "*.json"),
    "documents": ("*",),
}


@dataclass(frozen=True)
class LandedFile:
    path: str
    size: int
    modified_at: datetime


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
    """One row per line of the given text files: `_file`, `_file_modified_at`, `line_no` (1-based), `line`.

    A trailing newline does not make an extra line; Windows line ends are trimmed. Blank lines
    carry no record and are dropped.
    """
    whole = spark.read.text(paths, wholetext=True)
    return (
        whole.select(
            F.col("_metadata.file_path").alias("_file"),
            F.col("_metadata.file_modification_time").alias("_file_modified_at"),
            F.posexplode(F.split("value", "\n")).alias("pos", "line"),
        )
        .select("_file", "_file_modified_at", (F.col("pos") + 1).alias("line_no"),
                F.regexp_replace("line", "\r$", "").alias("line"))
        .where(F.trim("line") != "")
    )


def read_bytes(spark: SparkSession, paths: list[str]) -> list[tuple[str, datetime, bytes]]:
    """The bytes of small files (reports), read on the driver: (path, modified_at, content)."""
    if not paths:
        return []
    rows = spark.read.format("binaryFile").load(paths).select("path", "modificationTime", "content").collect()
    return sorted((r["path"], r["modificationTime"], bytes(r["content"])) for r in rows)


def read_inventory(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Document inventory for the given files: path, size, sha256, modified_at (bytes hashed in the JVM)."""
    return spark.read.format("binaryFile").load(paths).select(
        F.col("path"),
        F.col("length").alias("size"),
        F.sha2(F.col("content"), 256).alias("sha256"),
        F.col("modificationTime").alias("modified_at"),
    )
