"""Bronze shaping of office reports, CSV and Excel, parsed as rows on the driver (small files).

Offices write reports the way their Excel does: `,` between fields, or `;` in the locales whose
decimal mark is a comma (`8,5` hours), or a tab (Excel's "Text" export); a workbook may hold other
sheets and a title above the header. Each file's dialect is found from its header (`DIALECTS`) and
kept in `_dialect`; a file whose header matches in no dialect is flagged as before.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.functions import stamp

REPORT_COLUMNS = ["report_date", "office_id", "staffed_hours", "appointments_scheduled",
                  "appointments_attended", "notes"]

Row = dict[str, Any]

# The fields a parsed row carries (`parse_report_file`), as DDL: the bronze table's columns but the
# batch's own (`_ingested_at`, `_batch_id`).
PARSED_FIELDS = (*REPORT_COLUMNS, "_dialect", "_raw", "_source", "_file", "_file_modified_at", "_parse_error")
PARSED_SCHEMA = (
    ", ".join(f"{c} string" for c in REPORT_COLUMNS)
    + ", _dialect string, _raw string, _source string, _file string, _file_modified_at timestamp, _parse_error string"
)

# A CSV file's delimiter -> the `_dialect` bronze records; tried in this order on the header line.
DIALECTS = {",": "csv-comma", ";": "csv-semicolon", "\t": "csv-tab"}
XLSX = "xlsx"
# Where a file's decimal mark may be a comma (its fields are not split on commas), the numeric
# fields written with one: `8,5` is 8.5 hours. Counts stay as written (silver checks them).
DECIMAL_COMMA_FIELDS = ("staffed_hours",)
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def _row(file: str, modified_at: datetime, position: int, raw: str | None,
         values: list[str | None] | None, error: str | None, dialect: str | None = None) -> Row:
    fields = dict(zip(REPORT_COLUMNS, values, strict=True)) if values is not None else {}
    if dialect in ("csv-semicolon", "csv-tab"):
        for c in DECIMAL_COMMA_FIELDS:
            value = fields.get(c)
            if value is not None and _DECIMAL_COMMA.match(value):
                fields[c] = value.replace(",", ".")
    return {
        **{c: fields.get(c) for c in REPORT_COLUMNS},
        "_dialect": dialect,
        "_raw": raw,
        "_source": f"{file}:{position}",
        "_file": file,
        "_file_modified_at": modified_at,
        "_parse_error": error,
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_header(header: list[str]) -> str | None:
    got = [h.strip().lower() for h in header]
    while got and not got[-1]:  # Excel's empty trailing cells, or a line ending in a delimiter
        got.pop()
    if got != REPORT_COLUMNS:
        return f"unexpected header {got}, expected {REPORT_COLUMNS}"
    return None


def parse_csv(file: str, modified_at: datetime, content: bytes) -> list[Row]:
    """One row per non-blank CSV line after the header, split on the delimiter the header is written
    with (`DIALECTS`); a line with the wrong column count is flagged.

    Example: ``2026-10-01,OF-0001,8,20,18`` (5 columns) -> fields null,
    ``_parse_error="expected 6 columns, got 5"``, ``_raw`` the line as it arrived.
    """
    try:
        text, encoding_error = content.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        text, encoding_error = content.decode("utf-8", errors="replace"), f"not valid UTF-8 ({err.reason})"
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not lines:
        return []
    _, header_line = lines[0]
    delimiter = next((d for d in DIALECTS if _check_header(next(csv.reader([header_line], delimiter=d))) is None), ",")
    header_error = encoding_error or _check_header(next(csv.reader([header_line], delimiter=delimiter)))
    dialect = None if header_error else DIALECTS[delimiter]
    rows = []
    for n, line in lines[1:]:
        values = next(csv.reader([line], delimiter=delimiter))
        while len(values) > len(REPORT_COLUMNS) and not values[-1].strip():
            values.pop()  # trailing delimiters (Excel pads a row to the widest one)
        error = header_error or (
            None if len(values) == len(REPORT_COLUMNS) else f"expected {len(REPORT_COLUMNS)} columns, got {len(values)}"
        )
        rows.append(_row(file, modified_at, n, line, None if error else [v.strip() or None for v in values], error,
                         dialect))
    return rows


def parse_xlsx(file: str, modified_at: datetime, content: bytes) -> list[Row]:
    """One row per non-empty row under the report's header (`_report_sheet`); `_raw` is the row as
    JSON. An unreadable workbook yields a single flagged row, so the file is accounted for and the
    others go on."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheets = [list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets]
    except Exception as err:  # any reason a workbook cannot be opened
        return [_row(file, modified_at, 0, None, None, f"unreadable Excel file: {type(err).__name__}: {err}")]
    found = _report_sheet(sheets)
    if found is None:
        return []
    numbered, header = found
    header_error = _check_header(header)
    rows = []
    for n, values in numbered:
        cells = [_text(v) for v in values]
        while len(cells) > len(header) and cells[-1] is None:
            cells.pop()
        raw = json.dumps(dict(zip(header, cells, strict=False)) if len(cells) <= len(header) else cells, default=str)
        error = header_error or (
            None if len(cells) <= len(REPORT_COLUMNS) else f"expected {len(REPORT_COLUMNS)} columns, got {len(cells)}"
        )
        padded = cells + [None] * (len(REPORT_COLUMNS) - len(cells))
        rows.append(_row(file, modified_at, n, raw, None if error else padded, error, XLSX))
    return rows


def _report_sheet(sheets: list[list[tuple[Any, ...]]]) -> tuple[list[tuple[int, tuple[Any, ...]]], list[str]] | None:
    """The numbered rows after the report's header and the header: the first row of any sheet whose
    cells are the report's columns (a title and blank rows may stand above it, other sheets beside
    it); when no sheet has one, the first sheet's first non-empty row (and the header is flagged)."""
    def non_empty(rows: list[tuple[Any, ...]]) -> list[tuple[int, tuple[Any, ...]]]:
        return [(n, r) for n, r in enumerate(rows, start=1) if any(v not in (None, "") for v in r)]

    def header_of(row: tuple[Any, ...]) -> list[str]:
        header = [_text(v) or "" for v in row]
        while header and not header[-1]:
            header.pop()
        return header

    for rows in sheets:
        numbered = non_empty(rows)
        for i, (_, row) in enumerate(numbered):
            if _check_header(header_of(row)) is None:
                return numbered[i + 1:], header_of(row)
    first = non_empty(sheets[0]) if sheets else []
    return (first[1:], header_of(first[0][1])) if first else None


def parse_report_file(file: str, modified_at: datetime, content: bytes) -> list[Row]:
    """The rows of one report file (its content decompressed already): Excel by its name, else CSV."""
    if file.lower().endswith(".xlsx"):
        return parse_xlsx(file, modified_at, content)
    return parse_csv(file, modified_at, content)


def bronze_office_reports(parsed: DataFrame, batch_id: str, ingested_at: DataFrame) -> DataFrame:
    """Parsed report rows (`PARSED_SCHEMA`) in the shape of `bronze.office_reports`.

    Grain: one row per report row of a file. Adds `_ingested_at` (the one timestamp of
    `ingested_at`) and `_batch_id`.

    Example: ("2026-10-01", "OF-0001", "8", ..., _source "r.csv:2") and batch "run-1" ->
    the same row + `_ingested_at`, ``_batch_id="run-1"``.
    """
    return conform(
        parsed.transform(stamp, "_ingested_at", ingested_at).withColumn("_batch_id", F.lit(batch_id)),
        "bronze.office_reports",
    )
