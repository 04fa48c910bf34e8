"""An incident's lifecycle: opened, still open, resolved; one incident per rule and key at a time.

`advance` takes the incidents `gold.alerts` holds and this evaluation's judgements, and returns
the incidents of the rules it judged as they are now (rows of `gold.alerts`, as dicts):

- a key breaking its rule with no open incident opens one (`opened_at`, status `open`);
- a key breaking it with an open incident keeps it open; its value, volume and message follow the
  data, and `updated_at` moves only when one of them changed (a re-run changes nothing); a rule
  whose values move with the clock (`clocked`: an age) keeps the figures it opened with;
- a key judged and no longer breaking resolves its open incident (`resolved_at`); the row is kept,
  and a later breach of that key opens a new incident;
- a key not judged (too little volume, no row) leaves its incident as it is;
- the open incidents of a rule no longer configured are resolved.

Values are rounded to `DIGITS` places, so a sum taken in another order is not a change.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from lakehouse.alerts.judge import Judgement
from lakehouse.config import AlertRule

DIGITS = 6
OPEN, RESOLVED = "open", "resolved"
Incident = dict[str, Any]

_WORDS = {"below": "below", "above": "above", "falls_by": "fell more than", "rises_by": "rose more than"}


def incident_id(rule: str, key: str, number: int) -> str:
    """`al-` and 16 hex digits of the rule, the key and the incident's number for that key (1, 2, ...)."""
    return "al-" + hashlib.sha256(f"{rule}\x1f{key}\x1f{number}".encode()).hexdigest()[:16]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def message(rule: AlertRule, j: Judgement) -> str:
    """One line: what was judged, against what, over how much (no personal data: keys are regions,
    offices, modalities, steps, tables)."""
    value = f"{rule.column} {j.value:.4g}"
    if j.baseline is not None:
        value += f" vs its {rule.window_days}-day mean {j.baseline:.4g}"
    volume = f"; {j.volume:,} {rule.volume}" if rule.volume and j.volume is not None else ""
    return f"{value}: {_WORDS[rule.condition]} {rule.threshold:g} ({j.text}{volume})"


def advance(existing: Iterable[Incident], judged: dict[str, tuple[AlertRule, list[Judgement]]],
            retired: set[str], now: datetime, clocked: frozenset[str] = frozenset()) -> list[Incident]:
    """The incidents of the rules in `judged` and `retired` after this evaluation (see the module)."""
    scope = set(judged) | retired
    rows = [dict(r) for r in existing if r["rule"] in scope]
    numbers = Counter((r["rule"], r["incident_key"]) for r in rows)
    open_ = {(r["rule"], r["incident_key"]): r for r in rows if r["status"] == OPEN}
    for name, (rule, judgements) in sorted(judged.items()):
        for j in judgements:
            incident = open_.get((name, j.text))
            if j.breaking and incident is None:
                numbers[(name, j.text)] += 1
                rows.append(_opened(name, rule, j, numbers[(name, j.text)], now))
            elif j.breaking and incident is not None:
                if name not in clocked:
                    _follow(incident, rule, j, now)
            elif incident is not None:
                _follow(incident, rule, j, now)
                incident.update(status=RESOLVED, resolved_at=now, updated_at=now)
    for name in retired:
        for incident in (r for r in rows if r["rule"] == name and r["status"] == OPEN):
            incident.update(status=RESOLVED, resolved_at=now, updated_at=now,
                            message=f"{incident['message']} [rule no longer configured]")
    return rows


def _opened(name: str, rule: AlertRule, j: Judgement, number: int, now: datetime) -> Incident:
    return {
        "incident_id": incident_id(name, j.text, number), "rule": name, "severity": rule.severity, "status": OPEN,
        "source_table": rule.table, "column_name": rule.column, "incident_key": j.text, "date": j.date,
        "region": j.region, "value": _round(j.value), "baseline": _round(j.baseline), "threshold": rule.threshold,
        "volume": j.volume, "message": message(rule, j), "opened_at": now, "updated_at": now, "resolved_at": None,
        "notified_opened_at": None, "notified_resolved_at": None,
    }


def _follow(incident: Incident, rule: AlertRule, j: Judgement, now: datetime) -> None:
    """The open incident's figures as judged now; `updated_at` only when they changed."""
    now_ = {"value": _round(j.value), "baseline": _round(j.baseline), "volume": j.volume,
            "message": message(rule, j), "severity": rule.severity, "threshold": rule.threshold}
    if any(incident[k] != v for k, v in now_.items()):
        incident.update(now_, updated_at=now)


def pending(incidents: Iterable[Incident]) -> list[tuple[Incident, str]]:
    """What is still to be sent: (incident, "opened" or "resolved"), openings first, in time order."""
    opened = [(r, "opened") for r in incidents if r["notified_opened_at"] is None]
    resolved = [(r, "resolved") for r in incidents if r["status"] == RESOLVED and r["notified_resolved_at"] is None]
    return sorted(opened, key=lambda p: p[0]["opened_at"]) + sorted(resolved, key=lambda p: p[0]["resolved_at"])
