"""Erasure: a person removed from the landing files, bronze, quarantine and silver, every version.

A request names a citizen (by national ID) or a registry operator (by `operator_id`). It is kept
in `ops.erasure_requests` (pending) until an erasure runs; then, for every pending request:

1. citizens: the rows of each table holding national IDs in clear (the policy's `national-id`
   columns: bronze and quarantine events) that carry the ID, in its column or anywhere in the raw
   record (a quarantined line that could not be parsed), are found; their landing lines are
   blanked in the files they came from (line numbers stay, so other rows' `_source` still points
   right; a file left with no line is deleted) and the rows are deleted by a MERGE with the
   request table, so no commit's predicate holds the ID; then the silver rows of the citizen's
   `citizen_key` (HMAC of the ID) are deleted the same way;
2. operators: their rows in the registry's bronze table (`bronze.operators`: the name, the raw
   row) are deleted the same way; the registry database itself is the source system's, which the
   lake only reads, so the request stays as a tombstone and ingest drops that operator's rows
   when the registry changes them again (`kept_out`);
3. the caller's `before_purge` runs (gold follows the deletions from silver's change feed);
   then every table touched is purged: `REORG ... APPLY (PURGE)` and `VACUUM` with the configured
   retention, so no earlier version can be read back with the person in it;
4. the requests are marked done, citizens' IDs removed, and the request table purged too;
5. one audit row goes to `ops.erasures`: who, when, which requests, rows per table; never an ID.

Gold and the PostgreSQL export follow in the app layer (`protection.run_erase`). Running an erasure again
finds nothing and deletes nothing; a run with no pending request still vacuums the tables once an
erasure has happened, so a scheduled run deletes the erased files once they pass the retention.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import TABLES, schema
from lakehouse.errors import LakehouseError
from lakehouse.ops.results import Progress, StepResult
from lakehouse.personal import ERASURE_REQUESTS, NATIONAL_ID_FORMAT, column_of_kind, personal_columns, tables_with
from lakehouse.sources import landing
from lakehouse.storage import delta, files

AUDIT = "ops.erasures"
CITIZEN, OPERATOR = "citizen", "operator"
# The bronze tables an operator's erasure reaches, and the column holding the operator_id.
OPERATOR_TABLES = (("bronze.operators", "operator_id"),)


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


def request_id(kind: str, subject: str, hmac_key: bytes) -> str:
    """A request's id: `er-` and 16 hex digits of a keyed HMAC of the kind and subject (the same
    person asked twice, the same request; the id tells nothing without the key)."""
    message = f"erasure-request:{kind}:{subject}".encode()
    return "er-" + hmac.new(hmac_key, message, hashlib.sha256).hexdigest()[:16]


def citizen_key(national_id: str, hmac_key: bytes) -> str:
    """What `functions.citizen_key` makes of an ID in silver (hex HMAC-SHA256)."""
    return hmac.new(hmac_key, national_id.encode("utf-8"), hashlib.sha256).hexdigest()


class ErasureRequestError(LakehouseError):
    """A request that names no one an erasure can find (the message never holds the value)."""


# What a request may name: the national ID's own format (a shorter token would match unrelated
# parts of raw records), an operator_id as the registry's keys are written.
SUBJECT_FORMATS = {CITIZEN: (NATIONAL_ID_FORMAT, "a national ID (8 digits)"),
                   OPERATOR: (r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$", "an operator_id (letters, digits, '-', '_')")}


def check_subjects(subjects: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (kind, subject) pairs, stripped, blank ones left out; raises `ErasureRequestError`
    naming the position (never the value) of one that is not what its kind must be."""
    kept = []
    for position, (kind, subject) in enumerate(subjects, start=1):
        if kind not in SUBJECT_FORMATS:
            raise ErasureRequestError(f"erasure request {position}: unknown kind {kind!r} (citizen or operator)")
        value = subject.strip()
        pattern, described = SUBJECT_FORMATS[kind]
        if value and not re.match(pattern, value):  # the patterns are anchored, the value stripped
            raise ErasureRequestError(f"erasure request {position} of {len(subjects)}: not {described}; "
                                      "nothing was recorded")
        if value:
            kept.append((kind, value))
    return kept


def add_requests(spark: SparkSession, root: str, subjects: list[tuple[str, str]], hmac_key: bytes,
                 requested_by: str, requested_at: datetime) -> list[str]:
    """Record requests, (kind, subject) each, as pending (a done request for the same person
    becomes pending again); their ids. All are checked first (`check_subjects`)."""
    rows = {request_id(kind, s, hmac_key): (kind, s) for kind, s in check_subjects(subjects)}
    if rows:
        frame = spark.createDataFrame([(r, kind, s, "pending", requested_by, requested_at, None)
                                       for r, (kind, s) in rows.items()], schema(ERASURE_REQUESTS))
        delta.upsert(spark, frame, root, ERASURE_REQUESTS)
    return sorted(rows)


def kept_out(spark: SparkSession, root: str, name: str) -> DataFrame | None:
    """The keys (one column, named as in `name`) of the people erasures keep out of bronze table
    `name`: the operators any request names, for `bronze.operators`; None for a table no erasure
    keeps anyone out of, or before any request."""
    columns = [column for table_name, column in OPERATOR_TABLES if table_name == name]
    if not columns or not delta.exists(spark, root, ERASURE_REQUESTS):
        return None
    return (delta.read(spark, root, ERASURE_REQUESTS).where(F.col("kind") == OPERATOR)
            .select(F.col("subject").alias(columns[0])))


@dataclass
class Erasure:
    """What one erasure did: the requests, rows deleted per table, landing files changed."""

    request_ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    files_rewritten: int = 0
    files_deleted: int = 0
    step: StepResult = field(default_factory=StepResult)


def id_match(column: str) -> str:
    """The MERGE condition of a table holding IDs in `column`: the ID there, or, in a row without
    a well-formed ID of its own, in the raw record as a whole token (an unparseable line keeps
    the ID only in `_raw`). Requests hold well-formed IDs only (`check_subjects`): digits, no
    pattern characters."""
    return (f"t.`{column}` = s.national_id OR ((t.`{column}` IS NULL OR NOT t.`{column}` RLIKE '{NATIONAL_ID_FORMAT}') "
            "AND t._raw RLIKE concat('(^|[^0-9A-Za-z])', s.national_id, '([^0-9A-Za-z]|$)'))")


def _all_tables() -> list[str]:
    """Every table an erasure deletes from."""
    return [name for name, _ in [*identified_tables(), *pseudonymized_tables(), *OPERATOR_TABLES]]


def _landing_lines(spark: SparkSession, root: str, subjects: DataFrame) -> dict[str, set[int]]:
    """The landing lines (key -> line numbers) the subjects' rows came from, in every identified table."""
    lines: dict[str, set[int]] = {}
    for name, column in identified_tables():
        if not delta.exists(spark, root, name):
            continue
        rows = (delta.read(spark, root, name).alias("t")
                .join(F.broadcast(subjects).alias("s"), F.expr(id_match(column)), "left_semi")
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


def _erase_citizens(spark: SparkSession, root: str, citizens: list[Any], hmac_key: bytes, result: Erasure,
                    progress: Progress) -> None:
    """Landing lines, bronze and quarantine rows, silver rows of the citizens (request_id, subject)."""
    subjects = spark.createDataFrame(
        [(r["request_id"], r["subject"], citizen_key(r["subject"], hmac_key)) for r in citizens],
        "request_id string, national_id string, citizen_key string")
    _blank_lines(spark, root, _landing_lines(spark, root, subjects), result, progress)
    for name, column in identified_tables():
        result.rows[name] = delta.delete_matching(spark, root, name, subjects, id_match(column))
    for name, column in pseudonymized_tables():
        result.rows[name] = delta.delete_matching(spark, root, name, subjects, f"t.`{column}` = s.citizen_key")


def _erase_operators(spark: SparkSession, root: str, operators: list[Any], result: Erasure) -> None:
    """The registry's bronze rows of the operators (request_id, subject)."""
    subjects = spark.createDataFrame([(r["request_id"], r["subject"]) for r in operators],
                                     "request_id string, operator_id string")
    for name, column in OPERATOR_TABLES:
        result.rows[name] = delta.delete_matching(spark, root, name, subjects, f"t.`{column}` = s.operator_id")


def erase(spark: SparkSession, root: str, hmac_key: bytes, requested_by: str, retention_hours: int,
          progress: Progress, before_purge: Callable[[Erasure], None] | None = None) -> Erasure:
    """Carry out every pending request (see the module's docstring). `before_purge` is called once
    the rows are deleted and before any table is purged: gold follows the deletions there, while
    silver's change data feed still holds them (the purge removes the feed's files)."""
    started = datetime.now(UTC).replace(tzinfo=None)
    result = Erasure()
    pending = (delta.read(spark, root, ERASURE_REQUESTS).where(F.col("status") == "pending")
               .select("request_id", "kind", "subject").collect())
    if not pending:
        if delta.exists(spark, root, AUDIT):  # files earlier erasures removed may now be past retention
            for name in _all_tables():
                delta.purge(spark, root, name, retention_hours)
            progress(f"no pending erasure request; tables vacuumed (retention {retention_hours} h)")
        else:
            progress("no pending erasure request")
        return result
    result.request_ids = sorted(r["request_id"] for r in pending)
    progress(f"{len(pending)} pending request(s): {', '.join(result.request_ids)}")
    citizens = [r for r in pending if r["kind"] == CITIZEN]
    operators = [r for r in pending if r["kind"] == OPERATOR]
    if citizens:
        _erase_citizens(spark, root, citizens, hmac_key, result, progress)
    if operators:
        _erase_operators(spark, root, operators, result)
    if before_purge is not None:
        before_purge(result)
    for name in result.rows:
        if delta.exists(spark, root, name):
            delta.purge(spark, root, name, retention_hours)
            if result.rows[name]:
                result.step.versions[name] = delta.version(spark, root, name) or 0
        progress(f"{name}: {result.rows[name]:,} row(s) erased, purged (retention {retention_hours} h)")
    done = datetime.now(UTC).replace(tzinfo=None)
    marked = [(r["request_id"], r["kind"], r["subject"] if r["kind"] == OPERATOR else None, "done", None, None, done)
              for r in pending]
    delta.upsert(spark, spark.createDataFrame(marked, schema(ERASURE_REQUESTS)), root, ERASURE_REQUESTS,
                 columns=["subject", "status", "erased_at"])
    delta.purge(spark, root, ERASURE_REQUESTS, retention_hours)
    audit = [(f"erasure-{uuid.uuid4().hex[:12]}", requested_by, started, done, result.request_ids, result.rows,
              result.files_rewritten, result.files_deleted)]
    delta.append(spark.createDataFrame(audit, schema(AUDIT)), root, AUDIT)
    result.step.versions[AUDIT] = delta.version(spark, root, AUDIT) or 0
    result.step.rows_out = sum(result.rows.values())
    return result
