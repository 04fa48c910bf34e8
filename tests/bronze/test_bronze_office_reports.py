"""Office report files (CSV, Excel) parsed into bronze rows; pure Python, no Spark."""
from __future__ import annotations

import io
import json
from datetime import datetime

import openpyxl

from lakehouse.bronze.office_reports import parse_csv, parse_report_file, parse_xlsx

T = datetime(2026, 10, 2, 6, 0)
HEADER = "report_date,office_id,staffed_hours,appointments_scheduled,appointments_attended,notes"


def test_csv_rows_keep_the_raw_line_and_flag_wrong_column_counts() -> None:
    content = (
        f"{HEADER}\r\n"
        "2026-10-01,OF-0001,8,20,18,\"late start, fixed\"\r\n"
        "\r\n"
        "2026-10-01,OF-0002,8,20\r\n"
        "2026-10-01,OF-0003,8,20,18,ok,extra\r\n"
    ).encode()
    rows = parse_csv("r.csv", T, content)
    assert [r["_source"] for r in rows] == ["r.csv:2", "r.csv:4", "r.csv:5"]
    good, short, long = rows
    assert (good["report_date"], good["office_id"], good["staffed_hours"], good["appointments_scheduled"],
            good["appointments_attended"], good["notes"]) == ("2026-10-01", "OF-0001", "8", "20", "18", "late start, fixed")
    assert good["_parse_error"] is None
    assert good["_raw"] == '2026-10-01,OF-0001,8,20,18,"late start, fixed"'
    assert short["_parse_error"] == "expected 6 columns, got 4" and short["office_id"] is None
    assert short["_raw"] == "2026-10-01,OF-0002,8,20"
    assert long["_parse_error"] == "expected 6 columns, got 7"


def test_csv_with_a_wrong_header_flags_every_line() -> None:
    rows = parse_csv("r.csv", T, b"date,office\n2026-10-01,OF-1\n2026-10-02,OF-1\n")
    assert len(rows) == 2
    assert all(r["_parse_error"].startswith("unexpected header") for r in rows)


def test_csv_that_is_not_utf8_is_kept_and_flagged() -> None:
    rows = parse_csv("r.csv", T, f"{HEADER}\n2026-10-01,OF-0001,8,20,18,Jos\xe9\n".encode("latin-1"))
    assert len(rows) == 1 and rows[0]["_parse_error"].startswith("not valid UTF-8")


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_rows_become_text_fields_and_json_raw() -> None:
    content = _xlsx([HEADER.split(","), [datetime(2026, 10, 1), "OF-0001", 7.5, 20, 18, None],
                     [None, None, None, None, None, None], ["2026-10-01", "OF-0002", 8, 10, 9, "x"]])
    rows = parse_report_file("r.xlsx", T, content)
    assert [r["_source"] for r in rows] == ["r.xlsx:2", "r.xlsx:4"]
    first = rows[0]
    assert (first["report_date"], first["staffed_hours"], first["appointments_scheduled"], first["notes"]) == (
        "2026-10-01", "7.5", "20", None)
    assert json.loads(first["_raw"])["office_id"] == "OF-0001"
    assert rows[1]["notes"] == "x" and rows[1]["_parse_error"] is None


def test_unreadable_workbook_is_one_flagged_row() -> None:
    rows = parse_xlsx("bad.xlsx", T, b"not a zip file")
    assert len(rows) == 1
    assert rows[0]["_source"] == "bad.xlsx:0"
    assert rows[0]["_parse_error"].startswith("unreadable Excel file")
