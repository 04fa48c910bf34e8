"""Reading the landing zone: files exactly as they arrived, on local disk or S3 alike.

Listing and reading go through Spark's own file sources (Hadoop file systems), so the same code
reads `./lakehouse-data/landing` and `s3a://bucket/prefix/landing`.

A landing file is known by its key: its path under the landing root (`events/2026-10-01.jsonl`),
whatever the scheme, bucket or folder the lake lives in. Bronze records keys, so a lake that moves
(another folder, another bucket, `s3://` on EMR and `s3a://` elsewhere) never ingests a file twice.
Text files may be compressed with any codec Hadoop decodes by extension (`CODECS`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import SourceError
from lakehouse.sources.landing_contract import (
    CODECS,
    HEAD_BYTES,
    KINDS,
    TEXT_EXTENSIONS,
    Verdict,
    by_name,
    check,
    reason_document,
    reason_key,
    rejected_key,
)
from lakehouse.storage import files

# landing sub-folder -> file name patterns it holds: the contract's, and its text ones compressed
LANDING_KINDS: dict[str, tuple[str, ...]] = {
    name: (*kind.patterns, *(p + codec for p in kind.patterns if p.endswith(TEXT_EXTENSIONS) for codec in CODECS))
    for name, kind in KINDS.items()
}

# The key of a landing file: what follows the first `/landing/<kind>/` of its URI (or, in a folder
# no source has, the first `/landing/`).
_KEY = re.compile(r"^.*?/landing/((?:" + "|".join(LANDING_KINDS) + r")/.+)$")
_ANY_KEY = re.compile(r"^.*?/landing/(.+)$")


def landing_key(location: str) -> str:
    """A landing file's key, its path under the landing root, from its URI (or from a key: unchanged).

    Example: ``file:/srv/lake/landing/events/a.jsonl`` and ``s3a://b/p/landing/events/a.jsonl`` ->
    ``events/a.jsonl``.
    """
    found = _KEY.match(location) or _ANY_KEY.match(location)
    return found.group(1) if found else location


def landing_key_column(location: Column) -> Column:
    """`landing_key` as a Column expression."""
    return F.coalesce(F.nullif(F.regexp_extract(location, _KEY.pattern, 1), F.lit("")), location)


def compressed(key: str) -> bool:
    """Whether the file's name names a compression codec (`r.csv.gz`)."""
    return any(key.endswith(ext) for p in TEXT_EXTENSIONS for ext in (p + codec for codec in CODECS))


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


def list_files(spark: SparkSession, root: str, kind: str, landed: list[LandedFile] | None = None) -> list[LandedFile]:
    """Every file under landing/<kind> the kind takes by name (Hadoop's listing, no Spark job), by
    path; from `landed` (a `list_everything` of this run) instead of a new listing when given."""
    listing = list_everything(spark, root) if landed is None else landed
    return [f for f in listing if _taken(f) and f.key.partition("/")[0] == kind]


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
    """The bytes of small files (reports), read on the driver: (key, modified_at, content). A
    compressed one is decompressed by Spark's text reader (its codec by the name's extension)."""
    found = []
    plain = [p for p in paths if not compressed(p)]
    if plain:
        rows = spark.read.format("binaryFile").load(plain).select("path", "modificationTime", "content").collect()
        found += [(landing_key(r["path"]), r["modificationTime"], bytes(r["content"])) for r in rows]
    packed = [p for p in paths if compressed(p)]
    if packed:
        whole = spark.read.text(packed, wholetext=True).select(
            F.col("_metadata.file_path").alias("path"), F.col("_metadata.file_modification_time").alias("at"), "value")
        found += [(landing_key(r["path"]), r["at"], r["value"].encode("utf-8")) for r in whole.collect()]
    return sorted(found)


INVENTORY_DDL = "path string, size bigint, sha256 string, modified_at timestamp"


def list_everything(spark: SparkSession, root: str) -> list[LandedFile]:
    """Every file under landing/, in any folder, of any name and size (hidden and empty ones too)."""
    listing = files.list_recursive(spark, f"{root.rstrip('/')}/landing")
    # naive local time, as PySpark returns a Delta timestamp (bronze's `modified_at` is compared with it)
    return [LandedFile(uri, size, datetime.fromtimestamp(millis / 1000)) for uri, size, millis in listing]


def _taken(f: LandedFile) -> bool:
    """Whether a source reads the file: a source folder, a name of its patterns, not empty, not hidden."""
    folder, _, rest = f.key.partition("/")
    name = rest.rsplit("/", 1)[-1]
    hidden = any(part.startswith(("_", ".")) for part in rest.split("/"))
    return (folder in LANDING_KINDS and bool(rest) and f.size > 0 and not hidden
            and any(fnmatchcase(name, p) for p in LANDING_KINDS[folder]))


def unmatched(landed: list[LandedFile]) -> list[LandedFile]:
    """The files no source reads: in an unknown folder, of a name none of its patterns match, or
    that Spark's listing never shows (empty, or a hidden `_`/`.` name)."""
    return [f for f in landed if not _taken(f)]


# Below this many files to look into, their heads are read one by one on the driver (about 40 ms a
# file through Py4J); from it on, in one Spark job (a fixed cost of about half a second).
_HEADS_ON_DRIVER = 8


def judge_all(spark: SparkSession, landed: list[LandedFile]) -> list[Verdict]:
    """The landing contract's verdicts on files, in their order.

    Most are decided by key and size; the first bytes of the others are read in one Spark job (the
    binaryFile source, each cut to `HEAD_BYTES` in the JVM) rather than file by file through Py4J,
    which at 1M events spent 53 ms a file, most of ingest's time.
    """
    verdicts = [by_name(f.key, f.size) for f in landed]
    looked_into = [f for f, verdict in zip(landed, verdicts, strict=True) if verdict is None]
    heads = _heads(spark, looked_into)
    return [verdict or check(f.key, f.size, heads[f.key]) for f, verdict in zip(landed, verdicts, strict=True)]


def _heads(spark: SparkSession, landed: list[LandedFile]) -> dict[str, bytes]:
    """The first `HEAD_BYTES` of each file, by key (a file gone since its listing: read, and fail, alone)."""
    if len(landed) >= _HEADS_ON_DRIVER:
        rows = (spark.read.format("binaryFile").load([f.path for f in landed])
                .select(landing_key_column(F.col("path")).alias("key"),
                        F.substring("content", 1, HEAD_BYTES).alias("head")).toLocalIterator())
        found = {r["key"]: bytes(r["head"]) for r in rows}
    else:
        found = {}
    return {f.key: found[f.key] if f.key in found else files.read_head(spark, f.path, HEAD_BYTES) for f in landed}


def reject(spark: SparkSession, root: str, landed: LandedFile, verdict: Verdict, rejected_at: datetime) -> str:
    """Move a file the contract refuses to `<root>/rejected/<key>`, its reason object beside it; returns the reason."""
    files.move(spark, landed.path, rejected_key(root, landed.key))
    reason = reason_document(landed.key, landed.size, verdict, rejected_at)
    files.write_text(spark, reason_key(root, landed.key), reason)
    return verdict.reason


def read_inventory(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Document inventory for the given files: path (the key), size, sha256, modified_at (hashed in the JVM)."""
    return spark.read.format("binaryFile").load(paths).select(
        landing_key_column(F.col("path")).alias("path"),
        F.col("length").alias("size"),
        F.sha2(F.col("content"), 256).alias("sha256"),
        F.col("modificationTime").alias("modified_at"),
    )
