"""Personal data as policy: which columns of which source are personal, and what becomes of them at
the bronze -> silver boundary.

Declared once, here, beside the table contract. Personal data lives in clear only in bronze and
quarantine (and in a pending erasure request); the silver transforms call `pseudonymize`, which
applies each column's treatment and drops every personal column, so no transform names one:

- `hmac`: the keyed HMAC-SHA256 of the value (`functions.citizen_key`), under its new name;
- `year`: generalised to the year of the ISO date (`birth_date` -> `birth_year`);
- `drop`: gone.

Tables that hold personal columns keep file statistics (`delta.dataSkippingStatsColumns`, written
into every commit of `_delta_log`) for their lineage columns only: min/max of a personal column in a
commit would outlive any erasure of the rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.functions import citizen_key, parse_date


@dataclass(frozen=True)
class PersonalColumn:
    """One personal column of a source table and its treatment at the bronze -> silver boundary.

    Attributes:
        column: the bronze (and quarantine) column.
        kind: what it is: `national-id`, `name`, `birth-date`, `free-text` or `raw` (the record as
            it arrived, with every field in it).
        treatment: `hmac`, `year` or `drop`.
        becomes: the silver column a kept treatment writes (`hmac`, `year`); None for `drop`.
    """

    column: str
    kind: str
    treatment: str
    becomes: str | None = None


_RAW = PersonalColumn("_raw", "raw", "drop")

POLICY: dict[str, tuple[PersonalColumn, ...]] = {
    "bronze.enrollment_events": (
        PersonalColumn("national_id", "national-id", "hmac", "citizen_key"),
        PersonalColumn("full_name", "name", "drop"),
        PersonalColumn("birth_date", "birth-date", "year", "birth_year"),
        _RAW,
    ),
    "bronze.operators": (PersonalColumn("full_name", "name", "drop"), _RAW),
    # Free text written by office staff may name a citizen or a colleague.
    "bronze.office_reports": (PersonalColumn("notes", "free-text", "drop"), _RAW),
}
TREATMENTS = ("hmac", "year", "drop")
# A national ID as the registry issues it (the quality rule `national_id_format`; an erasure request
# names one): anything else is quarantined.
NATIONAL_ID_FORMAT = r"^[0-9]{8}$"
# Where personal data may rest in clear: these layers and the pending erasure requests.
PERSONAL_LAYERS = ("bronze", "quarantine")
ERASURE_REQUESTS = "ops.erasure_requests"
# The columns of a personal table its commits keep statistics for (lineage only).
STATS_COLUMNS = {"bronze": "_source,_ingested_at,_batch_id", "quarantine": "_source,_ingested_at,_batch_id"}


def source_of(full_name: str) -> str:
    """The bronze table whose policy `full_name` follows: a quarantine table holds its bronze table's
    columns. Example: "quarantine.enrollment_events" -> "bronze.enrollment_events"."""
    layer, name = full_name.split(".")
    return f"bronze.{name}" if layer == "quarantine" else full_name


def personal_columns(full_name: str) -> tuple[PersonalColumn, ...]:
    """The personal columns of a table (none for a table outside bronze and quarantine)."""
    return POLICY.get(source_of(full_name), ())


def personal_names() -> frozenset[str]:
    """Every column name the policy declares personal, in any source."""
    return frozenset(p.column for columns in POLICY.values() for p in columns)


def column_of_kind(full_name: str, kind: str) -> str:
    """The one column of `kind` in a source: what erasure and the leak scan match on.

    Example: ("bronze.enrollment_events", "national-id") -> "national_id"."""
    found = [p.column for p in personal_columns(full_name) if p.kind == kind]
    if len(found) != 1:
        raise KeyError(f"{full_name}: the personal-data policy declares {len(found)} columns of kind '{kind}'")
    return found[0]


def tables_with(kind: str) -> list[str]:
    """The bronze tables with a personal column of `kind`. Example: "name" -> events and operators."""
    return [name for name, columns in POLICY.items() if any(p.kind == kind for p in columns)]


def pseudonymize(df: DataFrame, source: str, hmac_key: bytes | None = None) -> DataFrame:
    """Apply the policy of `source` (a bronze table) to rows in its shape.

    Grain: one row per input row. Every personal column of the source present in `df` is replaced
    by what its treatment keeps (if anything), under its new name; other columns are unchanged.
    `hmac_key` is needed only by a source with an `hmac` column.

    Example: ("bronze.enrollment_events") (event_id e1, national_id "40718231", full_name "…",
    birth_date "1990-05-17", _raw "{…}") -> (event_id e1, citizen_key HMAC(key, "40718231"),
    birth_year 1990).
    """
    out = df
    for p in personal_columns(source):
        if p.column not in df.columns:
            continue
        if p.treatment == "hmac":
            if hmac_key is None:
                raise ValueError(f"{source}.{p.column} is pseudonymized with the HMAC key: pass it")
            out = out.withColumn(str(p.becomes), citizen_key(F.col(p.column), hmac_key))
        elif p.treatment == "year":
            out = out.withColumn(str(p.becomes), F.year(parse_date(F.col(p.column))))
        elif p.treatment != "drop":
            raise ValueError(f"{source}.{p.column}: unknown treatment '{p.treatment}' (known: {TREATMENTS})")
        out = out.drop(p.column)
    return out
