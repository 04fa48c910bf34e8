"""Bronze shaping of office reports, CSV and Excel, parsed as rows on the driver (small files)."""
from __future__ import annotations

import csv
import io
import json
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
PARSED_FIELDS = (*REPORT_COLUMNS, "_raw", "_source", "_file", "_file_modified_at", "_parse_error")
PARSED_SCHEMA = (
    ", ".join(f"{c} string" for c in REPORT_COLUMNS)
    + ", _raw string, _source string, _file string, _file_modified_at timestamp, _parse_error string"
)


def _row(file: str, modified_at: datetime, position: int, raw: str | None,
         values: list[str | None] | None, error: str | None) -> Row:
    fields = dict(zip(REPORT_COLUMNS, values, strict=True)) if values is not None else {}
    return {
        **{c: fields.get(c) for c in REPORT_COLUMNS},
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
    if got != REPORT_COLUMNS:
        return f"unexpected header {got}, expected {REPORT_COLUMNS}"
    return None


def parse_csv(file: str, modified_at: datetime, content: bytes) -> list[Row]:
    """One row per non-blank CSV line after the header; a line with the wrong column count is flagged.

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
    header_no, header_line = lines[0]
    header_error = encoding_error or _check_header(next(csv.reader([header_line])))
    rows = []
    for n, line in lines[1:]:
        values = next(csv.reader([line]))
        error = header_error or (
            None if len(values) == len(REPORT_COLUMNS) else f"expected {len(REPORT_COLUMNS)} columns, got {len(values)}"
        )
        rows.append(_row(file, modified_at, n, line, None if error else [v.strip() or None for v in values], error))
    return rows


def parse_xlsx(file: str, modified_at: datetime, content: bytes) -> list[Row]:
    """One row per non-empty row of the first sheet; `_raw` is the row as JSON. An unreadable
    workbook yields a single flagged row, so the file is accounted for and the others go on."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        sheet_rows = list(book.worksheets[0].iter_rows(values_only=True))
    except Exception as err:  # any reason a workbook cannot be opened
        return [_row(file, modified_at, 0, None, None, f"unreadable Excel file: {type(err).__name__}: {err}")]
    numbered = [(n, r) for n, r in enumerate(sheet_rows, start=1) if any(v not in (None, "") for v in r)]
    if not numbered:
        return []
    header = [_text(v) or "" for v in numbered[0][1]]
    while header and not header[-1]:
        header.pop()
    header_error = _check_header(header)
    rows = []
    for n, values in numbered[1:]:
        cells = [_text(v) for v in values]
        while len(cells) > len(header) and cells[-1] is None:
            cells.pop()
        raw = json.dumps(dict(zip(header, cells, strict=False)) if len(cells) <= len(header) else cells, default=str)
        error = header_error or (
            None if len(cells) <= len(REPORT_COLUMNS) else f"expected {len(REPORT_COLUMNS)} columns, got {len(cells)}"
        )
        padded = cells + [None] * (len(REPORT_COLUMNS) - len(cells))
        rows.append(_row(file, modified_at, n, raw, None if error else padded, error))
    return rows


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
