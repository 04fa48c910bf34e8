"""Erasure: a citizen removed from the landing files, bronze, quarantine and silver, every version.

A request names a national ID. It is kept in `ops.erasure_requests` (pending, with the ID) until an
erasure runs; then, for every pending request:

1. the rows of each table holding national IDs in clear (the policy's `national-id` columns:
   bronze and quarantine events) that carry the ID, in its column or anywhere in the raw record
   (a quarantined line that could not be parsed), are found; their landing lines are blanked in
   the files they came from (line numbers stay, so other rows' `_source` still points right; a
   file left with no line is deleted) and the rows are deleted by a MERGE with the request table,
   so no commit's predicate holds the ID;
2. the silver rows of its `citizen_key` (HMAC of the ID) are deleted the same way;
3. every table touched is purged: `REORG ... APPLY (PURGE)` and `VACUUM` with the configured
   retention, so no earlier version can be read back with the person in it;
4. the requests are marked done, their IDs removed, and the request table purged too;
5. one audit row goes to `ops.erasures`: who, when, which requests, rows per table; never an ID.

Gold and the PostgreSQL export follow in the app layer (`app.run_erase`). Running an erasure again
finds nothing and deletes nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import TABLES, schema
from lakehouse.ops.results import Progress, StepResult
from lakehouse.personal import ERASURE_REQUESTS, column_of_kind, personal_columns, tables_with
from lakehouse.sources import landing
from lakehouse.storage import delta, files

AUDIT = "ops.erasures"


def identified_tables() -> list[tuple[str, str]]:
    """(table, national ID column) of every table that holds national IDs in clear."""
    found = []
    for source in tables_with("national-id"):
        column = column_of_kind(source, "national-id")
        found += [(source, column), (source.replace("bronze.", "quarantine.", 1), column)]
    return [(name, column) for name, column in found if name in TABLES]


def pseudonymized_tables() -> list[tuple[str, str]]:
    """(silver table, column) of every table keyed by the HMAC of a national ID."""
    columns = {str(p.becomes) for source in tables_with("national-id") for p in personal_columns(source)
               if p.kind == "national-id" and p.treatment == "hmac"}
    return [(name, column) for name, t in TABLES.items() if t.layer == "silver"
            for column in columns if column in schema(name).fieldNames()]


def request_id(national_id: str, hmac_key: bytes) -> str:
    """A request's id: `er-` and 16 hex digits of a keyed HMAC of the ID (the same person asked
    twice, the same request; the id tells nothing without the key)."""
    return "er-" + hmac.new(hmac_key, b"erasure-request:" + national_id.encode(), hashlib.sha256).hexdigest()[:16]


def citizen_key(national_id: str, hmac_key: bytes) -> str:
    """What `functions.citizen_key` makes of an ID in silver (hex HMAC-SHA256)."""
    return hmac.new(hmac_key, national_id.encode("utf-8"), hashlib.sha256).hexdigest()


def add_requests(spark: SparkSession, root: str, national_ids: list[str], hmac_key: bytes, requested_by: str,
                 requested_at: datetime) -> list[str]:
    """Record requests as pending (a done request for the same ID becomes pending again); their ids."""
    rows = {request_id(n, hmac_key): n for n in (i.strip() for i in national_ids) if n}
    if rows:
        frame = spark.createDataFrame([(r, n, "pending", requested_by, requested_at, None) for r, n in rows.items()],
                                      schema(ERASURE_REQUESTS))
        delta.upsert(spark, frame, root, ERASURE_REQUESTS)
    return sorted(rows)


@dataclass
class Erasure:
    """What one erasure did: the requests, rows deleted per table, landing files changed."""

    request_ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    files_rewritten: int = 0
    files_deleted: int = 0
    step: StepResult = field(default_factory=StepResult)


def _match(column: str) -> str:
    """The MERGE condition of a table holding IDs in `column`: the ID there, or in the raw record
    as a whole token (an unparseable line keeps the ID only in `_raw`)."""
    return (f"t.`{column}` = s.national_id OR "
            "t._raw RLIKE concat('(^|[^0-9A-Za-z])', s.national_id, '([^0-9A-Za-z]|$)')")


def _landing_lines(spark: SparkSession, root: str, subjects: DataFrame) -> dict[str, set[int]]:
    """The landing lines (key -> line numbers) the subjects' rows came from, in every identified table."""
    lines: dict[str, set[int]] = {}
    for name, column in identified_tables():
        if not delta.exists(spark, root, name):
            continue
        rows = (delta.read(spark, root, name).alias("t")
                .join(F.broadcast(subjects).alias("s"), F.expr(_match(column)), "left_semi")
                .where(F.col("_file").isNotNull()).select("_file", "_source").collect())
        for r in rows:
            line = str(r["_source"]).rpartition(":")[2]
            if line.isdigit():
                lines.setdefault(landing.landing_key(r["_file"]), set()).add(int(line))
    return lines


def _blank_lines(spark: SparkSession, root: str, lines: dict[str, set[int]], result: Erasure,
                 progress: Progress) -> None:
    """Blank the given lines of each landing file (decompressed and compressed again by its codec);
    a file left with no line at all is deleted."""
    for key, numbers in sorted(lines.items()):
        location = f"{root.rstrip('/')}/landing/{key}"
        if not files.exists(spark, location):
            continue
        text = files.read_decoded_text(spark, location)
        content = text.split("\n")
        for n in numbers:
            if 0 < n <= len(content):
                content[n - 1] = ""
        if not any(line.strip() for line in content):
            files.delete(spark, location)
            result.files_deleted += 1
        else:
            files.write_encoded_text(spark, location, "\n".join(content))
            result.files_rewritten += 1
    if lines:
        progress(f"landing: {result.files_rewritten} file(s) rewritten without the lines, "
                 f"{result.files_deleted} deleted")


def erase(spark: SparkSession, root: str, hmac_key: bytes, requested_by: str, retention_hours: int,
          progress: Progress) -> Erasure:
    """Carry out every pending request (see the module's docstring)."""
    started = datetime.now(UTC).replace(tzinfo=None)
    result = Erasure()
    pending = (delta.read(spark, root, ERASURE_REQUESTS).where(F.col("status") == "pending")
               .select("request_id", "national_id").collect())
    if not pending:
        progress("no pending erasure request")
        return result
    result.request_ids = sorted(r["request_id"] for r in pending)
    subjects = spark.createDataFrame(
        [(r["request_id"], r["national_id"], citizen_key(r["national_id"], hmac_key)) for r in pending],
        "request_id string, national_id string, citizen_key string")
    progress(f"{len(pending)} pending request(s): {', '.join(result.request_ids)}")
    _blank_lines(spark, root, _landing_lines(spark, root, subjects), result, progress)
    touched = []
    for name, column in identified_tables():
        result.rows[name] = delta.delete_matching(spark, root, name, subjects, _match(column))
        touched.append(name)
    for name, column in pseudonymized_tables():
        result.rows[name] = delta.delete_matching(spark, root, name, subjects, f"t.`{column}` = s.citizen_key")
        touched.append(name)
    for name in touched:
        if delta.exists(spark, root, name):
            delta.purge(spark, root, name, retention_hours)
            if result.rows[name]:
                result.step.versions[name] = delta.version(spark, root, name) or 0
        progress(f"{name}: {result.rows[name]:,} row(s) erased, purged (retention {retention_hours} h)")
    done = datetime.now(UTC).replace(tzinfo=None)
    delta.upsert(spark, spark.createDataFrame(
        [(r["request_id"], None, "done", None, None, done) for r in pending], schema(ERASURE_REQUESTS)),
        root, ERASURE_REQUESTS, columns=["national_id", "status", "erased_at"])
    delta.purge(spark, root, ERASURE_REQUESTS, retention_hours)
    audit = [(f"erasure-{uuid.uuid4().hex[:12]}", requested_by, started, done, result.request_ids, result.rows,
              result.files_rewritten, result.files_deleted)]
    delta.append(spark.createDataFrame(audit, schema(AUDIT)), root, AUDIT)
    result.step.versions[AUDIT] = delta.version(spark, root, AUDIT) or 0
    result.step.rows_out = sum(result.rows.values())
    return result
