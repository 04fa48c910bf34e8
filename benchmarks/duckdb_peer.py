"""The DuckDB peer of `batch_scale.py`: the silver and gold steps' work, from the same bronze Delta
tables, in DuckDB SQL, written out as Parquet; and the check that its rows equal Spark's.

What it does, as the product does it (`lakehouse/silver/`, `lakehouse/quality/rules.py`,
`lakehouse/gold/`):
- enrollment events: every error rule, in the product's order, into `_failed_rules` (a record that
  failed to parse fails only `record_parseable`); failing rows to the quarantine; valid rows
  de-duplicated by `event_id`, first arrival winning (earliest `_ingested_at`, then `_source`), the
  national ID keyed with HMAC-SHA256 under the lake's key (`citizen_key`), the birth date cut to its
  year; biometric validations de-duplicated by `validation_id` the same way;
- office reports (their rules, the latest file winning per date and office), device logs (their
  rules), offices as SCD2 (one row per captured version);
- gold: the region of the office at a moment (the SCD2 lookup of `gold/region.py`), `dim_date`,
  `dim_office`, both facts and the three KPI tables, each cast to the contract's columns and types.
Silver's document inventory (a row per document file, a few hundred) is left out.

Bronze is read with the `deltalake` package: the table's current Parquet files
(`DeltaTable.file_uris`) straight into DuckDB's Parquet reader, or, for a table with partition
columns or newer reader features, its Arrow dataset. The check reads Spark's silver, quarantine and
gold tables the same way, so no Spark job takes part in it. The HMAC runs in SQL (`sha256` of the key's
inner and outer pads, RFC 2104); the pads reach DuckDB as a bound parameter, never in a statement.

The column types of the contract are read with `lakehouse.contract.schema`, which needs a running
Spark session (the benchmark's).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from deltalake import DeltaTable

from lakehouse.contract import schema

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# functions.parse_timestamp: a date, 'T', a time, an optional 1-9 digit fraction, and an offset
# ('Z', '+02:00' or '+0200'); anything else, or an impossible date, is null.
ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})"

MACROS = f"""
CREATE MACRO iso_ts(s) AS CASE WHEN regexp_full_match(s, '{ISO_TIMESTAMP}')
    THEN TRY_CAST(s AS TIMESTAMPTZ)::TIMESTAMP END;
CREATE MACRO iso_date(s) AS TRY_CAST(try_strptime(s, '%Y-%m-%d') AS DATE);
CREATE MACRO present(s) AS s IS NOT NULL AND trim(s) <> '';
CREATE MACRO num(s) AS TRY_CAST(s AS DECIMAL(38, 9))::DOUBLE;
CREATE MACRO whole(s) AS CASE WHEN TRY_CAST(s AS DECIMAL(38, 9)) = floor(TRY_CAST(s AS DECIMAL(38, 9)))
    THEN TRY_CAST(TRY_CAST(s AS DECIMAL(38, 9)) AS INTEGER) END;
CREATE MACRO for_validations(event_type, ok) AS event_type IS DISTINCT FROM 'biometric_validation' OR ok;
CREATE MACRO ratio(n, d) AS CASE WHEN d <> 0 THEN n::DOUBLE / d END;
CREATE MACRO failed(rules) AS list_filter(rules, lambda x: x IS NOT NULL);
"""

# quality.rules.enrollment_event_rules, error rules after the prerequisite, in its order; a rule
# passes when its expression is TRUE (FALSE or NULL fail). `ts`, `v_started`, `v_finished` are the
# parsed event time and validation times.
EVENT_RULES = {
    "event_id_is_uuid": f"regexp_full_match(event_id, '{UUID}')",
    "event_type_known": "event_type IN ('enrollment_started', 'enrollment_completed', 'enrollment_cancelled', "
                        "'biometric_validation')",
    "event_time_parseable": "ts IS NOT NULL",
    "event_time_not_future": "ts <= _ingested_at + to_minutes({tolerance})",
    "national_id_format": "regexp_full_match(national_id, '[0-9]{8}')",
    "channel_known": "channel IN ('web', 'mobile', 'office')",
    "office_id_present": "present(office_id)",
    "validation_present": "for_validations(event_type, validation IS NOT NULL AND present(validation.validation_id))",
    "modality_known": "for_validations(event_type, validation.modality IN ('fingerprint', 'face', 'iris'))",
    "result_known": "for_validations(event_type, validation.result IN ('match', 'no_match', 'error'))",
    "score_in_range": "for_validations(event_type, CASE WHEN validation.score IS NULL THEN validation.result = 'error' "
                      "ELSE num(validation.score) BETWEEN 0.0 AND 1.0 END)",
    "finished_after_started": "for_validations(event_type, v_started IS NOT NULL AND v_finished IS NOT NULL "
                              "AND v_finished >= v_started)",
}
REPORT_RULES = {
    "report_date_parseable": "iso_date(report_date) IS NOT NULL",
    "office_id_present": "present(office_id)",
    "counts_non_negative": "whole(appointments_scheduled) >= 0 AND whole(appointments_attended) >= 0 "
                           "AND num(staffed_hours) >= 0",
    "attended_not_above_scheduled": "whole(appointments_attended) <= whole(appointments_scheduled)",
}
LOG_RULES = {"device_id_present": "present(device_id)", "ts_parseable": "iso_ts(ts) IS NOT NULL"}

# Spark's simple type names -> DuckDB's, for casting to the contract.
TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "date": "DATE",
         "timestamp": "TIMESTAMP", "boolean": "BOOLEAN", "array<string>": "VARCHAR[]"}

LIFECYCLE = "('enrollment_started', 'enrollment_completed', 'enrollment_cancelled')"


def failed_rules(rules: dict[str, str]) -> str:
    """`_failed_rules`: `record_parseable` alone for a record that did not parse, else the rules failed."""
    checks = ", ".join(f"CASE WHEN NOT coalesce({expr}, false) THEN '{name}' END" for name, expr in rules.items())
    return f"CASE WHEN _parse_error IS NOT NULL THEN ['record_parseable'] ELSE failed([{checks}]) END"


def region_join(alias: str, moment: str) -> str:
    """gold.region.with_region_at: the office version valid at `moment` ([from, to); the first
    version open to the past); `coalesce(r.region, 'UNKNOWN')` is the region."""
    return (f"LEFT JOIN region_validity r ON {alias}.office_id = r.office_id AND {moment} IS NOT NULL "
            f"AND (r.v_from IS NULL OR {moment} >= r.v_from) AND (r.v_to IS NULL OR {moment} < r.v_to)")


def conformed(query: str, table: str) -> str:
    """`query` cast to the contract's columns of `table`, in its order (contract.conform); a struct
    (bronze's `validation`, in the quarantine) passes as bronze has it."""
    def cast(name: str, spark_type: str) -> str:
        return f'CAST("{name}" AS {TYPES[spark_type]}) AS "{name}"' if spark_type in TYPES else f'"{name}"'

    columns = ", ".join(cast(f.name, f.dataType.simpleString()) for f in schema(table).fields)
    return f"SELECT {columns} FROM ({query})"


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer pads of HMAC-SHA256 under `key` (RFC 2104)."""
    block = (key if len(key) <= 64 else hashlib.sha256(key).digest()).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


CITIZEN_KEY = "sha256(p.outer || unhex(sha256(p.inner || encode(national_id))))"

SILVER = {
    "silver.enrollment_events": f"""
        SELECT event_id, event_type, ts AS event_time, CAST(ts AS DATE) AS event_date,
               TRY_CAST(schema_version AS INTEGER) AS schema_version, enrollment_id, {CITIZEN_KEY} AS citizen_key,
               year(iso_date(birth_date)) AS birth_year, office_id, channel, operator_id,
               validation.validation_id AS validation_id, _source, _ingested_at, _batch_id
        FROM checked_events, hmac_pads p WHERE len(_failed_rules) = 0
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingested_at NULLS FIRST, _source NULLS FIRST) = 1""",
    "silver.biometric_validations": f"""
        SELECT validation.validation_id AS validation_id, event_id, enrollment_id, {CITIZEN_KEY} AS citizen_key,
               office_id, channel, ts AS event_time, CAST(ts AS DATE) AS event_date, validation.modality AS modality,
               validation.result AS result, num(validation.score) AS score, v_started AS started_at,
               v_finished AS finished_at, epoch_ms(v_finished) - epoch_ms(v_started) AS duration_ms, _ingested_at
        FROM checked_events, hmac_pads p WHERE len(_failed_rules) = 0 AND event_type = 'biometric_validation'
        QUALIFY row_number() OVER (PARTITION BY validation.validation_id
                                   ORDER BY _ingested_at NULLS FIRST, _source NULLS FIRST) = 1""",
    "silver.office_reports": """
        SELECT iso_date(report_date) AS report_date, office_id, num(staffed_hours) AS staffed_hours,
               whole(appointments_scheduled) AS appointments_scheduled,
               whole(appointments_attended) AS appointments_attended, _source, _ingested_at
        FROM checked_reports WHERE len(_failed_rules) = 0
        QUALIFY row_number() OVER (PARTITION BY iso_date(report_date), office_id ORDER BY _ingested_at DESC,
                                   _file_modified_at DESC, _file DESC, _source DESC) = 1""",
    "silver.offices": """
        SELECT *, valid_to IS NULL AS is_current FROM (
            SELECT office_id, name, region, district, opened_on, updated_at, updated_at AS valid_from,
                   lead(updated_at) OVER (PARTITION BY office_id ORDER BY updated_at) AS valid_to
            FROM (SELECT * FROM bronze_offices
                  QUALIFY row_number() OVER (PARTITION BY office_id, updated_at
                                             ORDER BY _ingested_at NULLS FIRST, _source NULLS FIRST) = 1))""",
    "silver.device_logs": """
        SELECT device_id, office_id, iso_ts(ts) AS ts, CAST(iso_ts(ts) AS DATE) AS log_date, level, message,
               firmware, _source, _ingested_at
        FROM checked_logs WHERE len(_failed_rules) = 0""",
}
# The silver tables gold reads are kept as DuckDB tables under these names.
KEPT = {"silver.enrollment_events": "silver_events", "silver.biometric_validations": "silver_validations",
        "silver.office_reports": "silver_reports", "silver.offices": "silver_offices"}

REGION_VALIDITY = """
    CREATE TEMP TABLE region_validity AS
    SELECT office_id, CASE WHEN row_number() OVER w > 1 THEN valid_from END AS v_from,
           lead(valid_from) OVER w AS v_to, region
    FROM silver_offices WINDOW w AS (PARTITION BY office_id ORDER BY valid_from)"""

GOLD = {
    "gold.dim_date": """
        WITH span AS (SELECT min(d) AS first, max(d) AS last FROM (
            SELECT event_date AS d FROM silver_events UNION ALL SELECT report_date FROM silver_reports)),
        days AS (SELECT CAST(unnest(generate_series(first, last, INTERVAL 1 DAY)) AS DATE) AS date FROM span)
        SELECT date, year(date) AS year, quarter(date) AS quarter, month(date) AS month, day(date) AS day,
               isodow(date) AS day_of_week, dayname(date) AS day_name, weekofyear(date) AS iso_week,
               isodow(date) >= 6 AS is_weekend
        FROM days""",
    "gold.dim_office": """
        SELECT office_id || '@' || strftime(valid_from, '%Y-%m-%dT%H:%M:%S.%f') AS office_key, office_id, name,
               region, district, valid_from, valid_to, is_current
        FROM silver_offices
        UNION ALL SELECT 'UNKNOWN', 'UNKNOWN', 'Unknown office', 'UNKNOWN', 'UNKNOWN', NULL, NULL, true""",
    "gold.fct_enrollments": f"""
        WITH e AS (
            SELECT enrollment_id,
                   min(CASE WHEN event_type = 'enrollment_started' THEN event_time END) AS started_at,
                   min(CASE WHEN event_type = 'enrollment_completed' THEN event_time END) AS completed_at,
                   min(CASE WHEN event_type = 'enrollment_cancelled' THEN event_time END) AS cancelled_at,
                   arg_min({{'office_id': office_id, 'channel': channel, 'event_time': event_time}},
                           {{'not_started': event_type <> 'enrollment_started', 't': event_time, 'id': event_id}})
                       AS origin
            FROM silver_events WHERE event_type IN {LIFECYCLE} GROUP BY enrollment_id),
        o AS (SELECT * EXCLUDE (origin), origin.office_id AS office_id, origin.channel AS channel,
                     origin.event_time AS origin_time FROM e)
        SELECT o.*, coalesce(r.region, 'UNKNOWN') AS region,
               CASE WHEN completed_at IS NOT NULL THEN 'completed' WHEN cancelled_at IS NOT NULL THEN 'cancelled'
                    ELSE 'in_progress' END AS status,
               (epoch_ms(completed_at) - epoch_ms(started_at)) / 60000.0 AS minutes_to_complete
        FROM o {region_join('o', 'o.origin_time')}""",
    "gold.fct_biometric_validations": f"""
        SELECT v.*, coalesce(r.region, 'UNKNOWN') AS region
        FROM silver_validations v {region_join('v', 'v.event_time')}""",
    "gold.kpi_enrollments_daily": f"""
        SELECT *, ratio(enrollments_completed, enrollments_started) AS completion_rate FROM (
            SELECT event_date AS date, coalesce(r.region, 'UNKNOWN') AS region, channel,
                   count(*) FILTER (WHERE event_type = 'enrollment_started') AS enrollments_started,
                   count(*) FILTER (WHERE event_type = 'enrollment_completed') AS enrollments_completed,
                   count(*) FILTER (WHERE event_type = 'enrollment_cancelled') AS enrollments_cancelled
            FROM silver_events e {region_join('e', 'e.event_time')}
            WHERE event_type IN {LIFECYCLE} GROUP BY 1, 2, 3)""",
    "gold.kpi_validation_times_daily": f"""
        SELECT *, ratio(matches, matches + no_matches) AS match_rate FROM (
            SELECT event_date AS date, coalesce(r.region, 'UNKNOWN') AS region, modality, count(*) AS validations,
                   count(*) FILTER (WHERE result = 'match') AS matches,
                   count(*) FILTER (WHERE result = 'no_match') AS no_matches,
                   count(*) FILTER (WHERE result = 'error') AS errors,
                   quantile_cont(CASE WHEN result <> 'error' THEN duration_ms END, 0.5) AS p50_ms,
                   quantile_cont(CASE WHEN result <> 'error' THEN duration_ms END, 0.95) AS p95_ms,
                   avg(CASE WHEN result <> 'error' THEN duration_ms END) AS avg_ms
            FROM silver_validations v {region_join('v', 'v.event_time')} GROUP BY 1, 2, 3)""",
    "gold.kpi_office_daily": f"""
        WITH completed AS (
            SELECT event_date AS date, office_id, count(*) AS enrollments_completed
            FROM silver_events WHERE event_type = 'enrollment_completed' GROUP BY ALL),
        daily AS (
            SELECT coalesce(s.report_date, c.date) AS date, coalesce(s.office_id, c.office_id) AS office_id,
                   s.appointments_scheduled, s.appointments_attended, s.staffed_hours,
                   coalesce(c.enrollments_completed, 0) AS enrollments_completed
            FROM silver_reports s FULL JOIN completed c ON s.report_date = c.date AND s.office_id = c.office_id)
        SELECT d.*, coalesce(r.region, 'UNKNOWN') AS region,
               ratio(appointments_attended, appointments_scheduled) AS attendance_rate,
               ratio(enrollments_completed, staffed_hours) AS completed_per_staffed_hour
        FROM daily d {region_join('d', 'CAST(d.date AS TIMESTAMP)')}""",
}


@dataclass
class PeerRun:
    """What one build did: seconds per phase and rows per table written."""

    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def delta_view(con: duckdb.DuckDBPyConnection, view: str, location: str) -> None:
    """A view `view` over the current version of the Delta table at `location`."""
    table = DeltaTable(location)
    if table.metadata().partition_columns or table.protocol().min_reader_version > 1:
        con.register(view, table.to_pyarrow_dataset())
    else:
        con.read_parquet(table.file_uris()).create_view(view)


def _write(con: duckdb.DuckDBPyConnection, query: str, out: Path, name: str, run: PeerRun) -> None:
    written = con.execute(f"COPY ({query}) TO '{out / name}.parquet' (FORMAT parquet)").fetchone()
    run.rows[name] = int(written[0]) if written else 0


def build(bronze: dict[str, str], out: Path, hmac_key: bytes, tolerance_minutes: int, threads: int,
          memory_limit: str) -> PeerRun:
    """Silver and gold from the bronze tables at `bronze` (table name -> location), as Parquet
    files `<out>/<table>.parquet`."""
    run = PeerRun()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal started
        now = time.perf_counter()
        run.seconds[phase] = now - started
        started = now

    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit,
                                 "temp_directory": str(out / "_spill")})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(MACROS)
        inner, outer = hmac_pads(hmac_key)
        con.execute("CREATE TEMP TABLE hmac_pads AS SELECT $inner::BLOB AS inner, $outer::BLOB AS outer",
                    {"inner": inner, "outer": outer})
        for name, view in (("bronze.enrollment_events", "bronze_events"), ("bronze.office_reports", "bronze_reports"),
                           ("bronze.device_logs", "bronze_logs"), ("bronze.offices", "bronze_offices")):
            delta_view(con, view, bronze[name])
        # Every bronze event judged, without the columns only the quarantine needs (it reads them again).
        rules = failed_rules({k: v.replace("{tolerance}", str(tolerance_minutes)) for k, v in EVENT_RULES.items()})
        con.execute(f"""
            CREATE TEMP TABLE checked_events AS
            SELECT * EXCLUDE (_parse_error), {rules} AS _failed_rules FROM (
                SELECT * EXCLUDE (_raw, full_name, _file, _file_modified_at, _arrived_at), iso_ts(event_time) AS ts,
                       iso_ts(validation.started_at) AS v_started, iso_ts(validation.finished_at) AS v_finished
                FROM bronze_events)""")
        con.execute(f"CREATE TEMP TABLE checked_reports AS SELECT *, {failed_rules(REPORT_RULES)} AS _failed_rules "
                    "FROM bronze_reports")
        con.execute(f"CREATE TEMP TABLE checked_logs AS SELECT *, {failed_rules(LOG_RULES)} AS _failed_rules "
                    "FROM bronze_logs")
        lap("validate")
        for name, query in SILVER.items():
            if name in KEPT:
                con.execute(f"CREATE TEMP TABLE {KEPT[name]} AS {conformed(query, name)}")
                _write(con, f"SELECT * FROM {KEPT[name]}", out, name, run)
            else:
                _write(con, conformed(query, name), out, name, run)
        quarantine = {"quarantine.enrollment_events": ("bronze_events", "checked_events"),
                      "quarantine.office_reports": ("bronze_reports", "checked_reports"),
                      "quarantine.device_logs": ("bronze_logs", "checked_logs")}
        for name, (source, checked) in quarantine.items():
            rows = (f"SELECT b.*, c._failed_rules, now()::TIMESTAMP AS _quarantined_at FROM {source} b "
                    f"JOIN (SELECT _source, _failed_rules FROM {checked} WHERE len(_failed_rules) > 0) c "
                    "ON b._source = c._source")
            _write(con, conformed(rows, name), out, name, run)
        lap("silver")
        con.execute(REGION_VALIDITY)
        for name, query in GOLD.items():
            _write(con, conformed(query, name), out, name, run)
        lap("gold")
    finally:
        con.close()
    return run


@dataclass(frozen=True)
class Comparison:
    """Spark's rows of a table against the peer's: rows on each side, and rows that differ (a key
    on one side only, or any column unequal; doubles within 1e-9, relative)."""

    spark_rows: int
    peer_rows: int
    differing: int

    @property
    def matches(self) -> bool:
        return self.differing == 0 and self.spark_rows == self.peer_rows

    def describe(self) -> str:
        if self.matches:
            return f"match ({self.spark_rows:,} rows)"
        return f"{self.differing:,} differing rows (spark {self.spark_rows:,}, duckdb {self.peer_rows:,})"


def compare(spark_table: str, peer_file: str, keys: tuple[str, ...], columns: list[str], doubles: set[str],
            threads: int, memory_limit: str) -> Comparison:
    """Compare the rows of Spark's Delta table at `spark_table` with the peer's (`peer_file`) on
    `columns`, matched on `keys`. Spark's table is read with `deltalake`, not with Spark."""
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit,
                                 "temp_directory": f"{peer_file}-spill"})
    try:
        con.execute("SET TimeZone = 'UTC'")
        delta_view(con, "spark_rows", spark_table)
        con.read_parquet(peer_file).create_view("peer_rows")
        on = " AND ".join(f's."{k}" IS NOT DISTINCT FROM d."{k}"' for k in keys)
        unequal = [f'NOT coalesce((s."{c}" IS NULL AND d."{c}" IS NULL) OR abs(s."{c}" - d."{c}") <= '
                   f'1e-9 * greatest(1.0, abs(s."{c}"), abs(d."{c}")), false)' if c in doubles else
                   f's."{c}" IS DISTINCT FROM d."{c}"' for c in columns]
        picked = ", ".join(f'"{c}"' for c in columns)
        found = con.execute(f"""
            WITH s AS (SELECT {picked}, true AS _here FROM spark_rows),
                 d AS (SELECT {picked}, true AS _here FROM peer_rows)
            SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM d), count(*) FILTER (
                WHERE s._here IS NULL OR d._here IS NULL OR {' OR '.join(unequal)})
            FROM s FULL JOIN d ON {on}""").fetchone()
    finally:
        con.close()
    assert found is not None
    return Comparison(int(found[0]), int(found[1]), int(found[2]))
