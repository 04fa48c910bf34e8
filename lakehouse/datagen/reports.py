"""Daily office reports: one CSV per day, one Excel file per day for the offices that still use Excel.

Hard cases (CSV only): rows with too few or too many columns, a negative count, attended above
scheduled, and correction files (`office_reports-<date>_rev1.csv`, which sort after the original)
that replace some rows of an earlier day with changed numbers.
"""
from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import datetime, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from lakehouse.datagen.landing import LandingFile, Planted, ReportRow, RowRef
from lakehouse.datagen.world import World

HEADER = ("report_date", "office_id", "staffed_hours", "appointments_scheduled", "appointments_attended", "notes")
_NOTES = ("", "", "", "", "", "printer down", "power outage 1h", "biometric reader recalibrated",
          "staff training", "high demand")
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def _csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[Any]], stamp: datetime) -> bytes:
    """One sheet, header first; identical bytes for identical rows (fixed zip and document times)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "report"
    sheet.append(HEADER)
    for row in rows:
        sheet.append([value if value != "" else None for value in row])
    workbook.properties.creator = "office-reporting"
    workbook.properties.created = workbook.properties.modified = stamp.replace(tzinfo=None)
    raw = io.BytesIO()
    ExcelWriter(workbook, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()  # no save-time stamp
    # The zip entries carry the wall-clock time; repack them with a fixed one.
    fixed = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(zipfile.ZipInfo(info.filename, _ZIP_TIME), source.read(info.filename),
                            compress_type=zipfile.ZIP_DEFLATED)
    return fixed.getvalue()


def _row(rng: random.Random, world: World, day: int, office_id: str) -> list[Any]:
    staff = len(world.operators_of(office_id))
    scheduled = rng.randint(12, 60)
    attended = scheduled - rng.randint(0, max(1, scheduled // 5))
    return [world.period.date_of(day).isoformat(), office_id, round(staff * rng.uniform(6.5, 8.5), 1),
            scheduled, attended, rng.choice(_NOTES)]


def plan_reports(rng: random.Random, world: World, per_case: int) -> tuple[list[LandingFile], list[Planted]]:
    period = world.period
    ids = [o.office_id for o in world.offices]
    excel = set(rng.sample(ids, max(1, len(ids) // 10)))
    by_csv = [o for o in ids if o not in excel]
    rows = {(day, o): _row(rng, world, day, o) for day in range(period.days) for o in ids}
    pairs = [(day, o) for day in range(period.days) for o in by_csv]
    needed = 5 * per_case
    if len(pairs) < needed:
        raise ValueError("the settings are too small to plant every report case; raise datagen.offices or days")
    # Replaced reports come from part 1 so one correction can arrive in part 2.
    early = [p for p in pairs if p[0] < period.half]
    replaced = rng.sample(early, min(per_case, len(early)))
    broken = rng.sample([p for p in pairs if p not in replaced], 4 * per_case)
    cases = {"short_csv_rows": broken[:per_case], "long_csv_rows": broken[per_case:2 * per_case],
             "negative_counts": broken[2 * per_case:3 * per_case],
             "attended_above_scheduled": broken[3 * per_case:]}
    for day, office in cases["negative_counts"]:
        rows[(day, office)][4] = -rng.randint(1, 5)
    for day, office in cases["attended_above_scheduled"]:
        rows[(day, office)][4] = rows[(day, office)][3] + rng.randint(1, 6)
    for day, office in cases["short_csv_rows"]:
        rows[(day, office)] = rows[(day, office)][:4]
    for day, office in cases["long_csv_rows"]:
        rows[(day, office)] = rows[(day, office)] + ["see attachment"]
    kind_of = {pair: key for key, found in cases.items() for pair in found}

    files: list[LandingFile] = []
    planted: list[Planted] = []
    for day in range(period.days):
        name = f"office_reports/office_reports-{period.date_of(day).isoformat()}"
        for line, office in enumerate(by_csv, start=2):
            key = kind_of.get((day, office))
            if key in ("short_csv_rows", "long_csv_rows"):
                planted.append(Planted(key, day, RowRef(f"{name}.csv", line)))
            elif key:
                date_text = period.date_of(day).isoformat()
                planted.append(Planted(key, day, ReportRow(f"{name}.csv", line, date_text, office)))
        files.append(LandingFile("office_reports", f"{name}.csv", day, _csv_bytes([rows[(day, o)] for o in by_csv])))
        stamp = world.period.start + timedelta(days=day, hours=21)
        files.append(LandingFile("office_reports", f"{name}.xlsx", day,
                                 xlsx_bytes([rows[(day, o)] for o in sorted(excel)], stamp)))

    # One correction file per corrected day: the first half arrive in part 1, the rest on the first
    # day of part 2 (a part-2 file carrying a part-1 date).
    corrected_days = sorted({d for d, _ in replaced})
    for index, day in enumerate(corrected_days):
        in_part_1 = index < (len(corrected_days) + 1) // 2
        arrival = min(period.half - 1, day + 1) if in_part_1 else period.half
        fixed_rows = []
        for office in sorted(o for d, o in replaced if d == day):
            row = list(rows[(day, office)])
            row[3] = row[3] + rng.randint(1, 5)
            row[4] = min(row[3], row[4] + rng.randint(1, 4))
            row[5] = "corrected figures"
            fixed_rows.append(row)
            planted.append(Planted("replaced_reports", arrival, (period.date_of(day).isoformat(), office)))
        path = f"office_reports/office_reports-{period.date_of(day).isoformat()}_rev1.csv"
        files.append(LandingFile("office_reports", path, arrival, _csv_bytes(fixed_rows)))
    return files, planted
