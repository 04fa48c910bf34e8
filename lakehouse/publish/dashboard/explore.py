"""The data the page's filters slice, as the JSON embedded in it. Pure Python.

The charts drawn on the server show every region, channel, modality and office; the page's script
(`explore.js`) redraws them from these rows when a filter is chosen, so the rows are the KPI
tables' own grain (day and region with channel, modality or office) over the latest `WINDOW_DAYS`
days, never anything finer. Counts and percentiles only: no event, no person.

Dates, regions, channels, modalities and offices are written once each (`dims`) and the rows point
at them by position, which keeps a 90-day page of 40 offices within a few hundred kilobytes.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from lakehouse.publish.dashboard.charts import PALETTE, WINDOW_DAYS, Record, recent

DIMS = ("day", "region", "channel", "modality", "office")


def explore_data(enrollments: Sequence[Record], validations: Sequence[Record], offices: Sequence[Record],
                 alerts: Sequence[Record], generated: datetime) -> dict[str, Any]:
    """The page's data: the rows of `queries.explore_*` and the open incidents, encoded.

    Args:
        enrollments: rows of `queries.explore_enrollments`.
        validations: rows of `queries.explore_validations`.
        offices: rows of `queries.explore_offices`.
        alerts: the open incidents (`lakehouse.alerts.open_incidents`).
        generated: the page's generation time.

    Returns:
        `{"dims": {dim: [values]}, "enrollments": [[day, region, channel, started, completed]],
        "validations": [[day, region, modality, matches, timed, p50_ms, p95_ms]], "offices": [[day,
        office, region, scheduled, attended]], "alerts": [{...}], "palette": [...], "window_days",
        "generated"}`; a row's dimensions are positions in `dims`.
    """
    enrollments, validations, offices = recent(enrollments), recent(validations), recent(offices)
    dims: dict[str, list[str]] = {d: [] for d in DIMS}
    days = sorted({r["date"] for r in [*enrollments, *validations, *offices]})
    dims["day"] = [d.isoformat() for d in days]
    for dim, rows, column in (("region", [*enrollments, *validations, *offices], "region"),
                              ("channel", enrollments, "channel"), ("modality", validations, "modality"),
                              ("office", offices, "office_id")):
        dims[dim] = sorted({_name(r[column]) for r in rows})
    at = {dim: {v: i for i, v in enumerate(values)} for dim, values in dims.items()}

    def pos(dim: str, value: object) -> int:
        return at[dim][value.isoformat() if isinstance(value, date) else _name(value)]

    return {
        "dims": dims,
        "enrollments": [[pos("day", r["date"]), pos("region", r["region"]), pos("channel", r["channel"]),
                         _int(r["started"]), _int(r["completed"])] for r in enrollments],
        "validations": [[pos("day", r["date"]), pos("region", r["region"]), pos("modality", r["modality"]),
                         _int(r["matches"]), _int(r["timed"]), _num(r["p50_ms"]), _num(r["p95_ms"])]
                        for r in validations],
        "offices": [[pos("day", r["date"]), pos("office", r["office_id"]), pos("region", r["region"]),
                     _int(r["scheduled"]), _int(r["attended"])] for r in offices],
        "alerts": [_alert(r) for r in alerts],
        "palette": list(PALETTE),
        "window_days": WINDOW_DAYS,
        "generated": generated.isoformat().replace("+00:00", "Z"),
    }


def embedded_json(data: dict[str, Any]) -> str:
    """`data` as the text of a `<script type="application/json">`: compact, and no `</` that could
    close the element early (a message is text from config and data)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def _alert(r: Record) -> dict[str, Any]:
    return {"rule": r["rule"], "severity": r["severity"], "table": r["source_table"], "key": r["incident_key"],
            "date": r["date"].isoformat() if r["date"] else None, "region": r["region"],
            "value": _num(r["value"]), "threshold": _num(r["threshold"]), "message": r["message"],
            "opened_at": r["opened_at"].isoformat(timespec="minutes") if r["opened_at"] else None}


def _name(value: object) -> str:
    return "(none)" if value is None else str(value)


def _int(value: object) -> int:
    return int(value or 0)  # type: ignore[call-overload]


def _num(value: object) -> float | None:
    return None if value is None else round(float(value), 4)  # type: ignore[arg-type]
