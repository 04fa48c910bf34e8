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


def _fields(row: dict) -> tuple:
    return tuple(row[c] for c in ("report_date", "office_id", "staffed_hours", "appointments_scheduled",
                                  "appointments_attended", "notes", "_dialect", "_parse_error"))


def test_each_csv_dialect_is_read_and_recorded() -> None:
    comma = f"{HEADER}\n2026-10-01,OF-0001,8.5,20,18,ok\n"
    # Excel in a Spanish locale: `;` between fields, a decimal comma, a BOM, CRLF, a comma in the notes
    semicolon = ("\ufeffreport_date;office_id;staffed_hours;appointments_scheduled;appointments_attended;notes\r\n"
                 "2026-10-01;OF-0001;8,5;20;18;tarde, resuelto\r\n2026-10-02;OF-0001;7;20;17;\r\n")
    tab = f"{HEADER.replace(',', chr(9))}\n2026-10-01\tOF-0001\t8,5\t20\t18\tok\n"
    assert [_fields(r) for r in parse_csv("a.csv", T, comma.encode())] == [
        ("2026-10-01", "OF-0001", "8.5", "20", "18", "ok", "csv-comma", None)]
    assert [_fields(r) for r in parse_csv("b.csv", T, semicolon.encode())] == [
        ("2026-10-01", "OF-0001", "8.5", "20", "18", "tarde, resuelto", "csv-semicolon", None),
        ("2026-10-02", "OF-0001", "7", "20", "17", None, "csv-semicolon", None)]
    rows = parse_csv("c.csv", T, tab.encode())
    assert [_fields(r) for r in rows] == [("2026-10-01", "OF-0001", "8.5", "20", "18", "ok", "csv-tab", None)]
    assert rows[0]["_raw"] == "2026-10-01\tOF-0001\t8,5\t20\t18\tok"  # the line as it arrived


def test_a_decimal_comma_is_a_decimal_only_where_fields_are_not_split_on_commas() -> None:
    # a `,` file with `8,5` has seven fields: flagged, not read as 8.5 or as 8 and 5
    rows = parse_csv("a.csv", T, f"{HEADER}\n2026-10-01,OF-0001,8,5,20,18,ok\n".encode())
    assert rows[0]["_parse_error"] == "expected 6 columns, got 7"
    # in a `;` file, only a number with one decimal comma is changed; counts stay as written
    content = ("report_date;office_id;staffed_hours;appointments_scheduled;appointments_attended;notes\n"
               "2026-10-01;OF-0001;8,5,1;1,5;18;x\n")
    row = parse_csv("b.csv", T, content.encode())[0]
    assert (row["staffed_hours"], row["appointments_scheduled"], row["_parse_error"]) == ("8,5,1", "1,5", None)


def test_a_header_in_no_dialect_still_flags_every_line() -> None:
    for content in ("report_date|office_id|staffed_hours|appointments_scheduled|appointments_attended|notes\n"
                    "2026-10-01|OF-0001|8|20|18|x\n",
                    "report_date;office_id;staffed_hours\n2026-10-01;OF-0001;8\n"):
        rows = parse_csv("r.csv", T, content.encode())
        assert len(rows) == 1
        assert rows[0]["_parse_error"].startswith("unexpected header") and rows[0]["_dialect"] is None


def test_xlsx_with_a_title_above_the_header_and_other_sheets() -> None:
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notas"
    notes.append(["Informe preparado por la oficina"])
    report = book.create_sheet("Informe")
    report.append(["Informe mensual de la oficina OF-0001"])
    report.append([])
    report.append(HEADER.split(","))
    report.append(["2026-10-01", "OF-0001", 8.5, 20, 18, None])
    book.create_sheet("Resumen").append(["total", 20])
    buffer = io.BytesIO()
    book.save(buffer)
    rows = parse_report_file("r.xlsx", T, buffer.getvalue())
    assert [(r["_source"], *_fields(r)) for r in rows] == [
        ("r.xlsx:4", "2026-10-01", "OF-0001", "8.5", "20", "18", None, "xlsx", None)]
    # a workbook with no report header anywhere: its first sheet's rows are flagged, as before
    flagged = parse_report_file("bad.xlsx", T, _xlsx([["date", "office"], ["2026-10-01", "OF-1"]]))
    assert len(flagged) == 1 and flagged[0]["_parse_error"].startswith("unexpected header")
