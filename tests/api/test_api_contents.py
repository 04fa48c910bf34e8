"""Contents: each endpoint's rows are the gold tables' (compared with an independent query of the
exported schema), a paged walk returns every row once, and no answer holds a national ID or a name
from bronze (the leak scan's text check)."""
from __future__ import annotations

import math
from typing import Any

from api_support import Gold, bearer, month_range
from fastapi.testclient import TestClient
from pyspark.sql import SparkSession

from lakehouse.security.leak_scan import collect_values, scan_text
from lakehouse.sources.postgres import connect

PAGED = {
    "/v1/kpis/enrollments-daily": ("kpi_enrollments_daily", ("date", "region", "channel")),
    "/v1/kpis/validation-times-daily": ("kpi_validation_times_daily", ("date", "region", "modality")),
    "/v1/kpis/offices-daily": ("kpi_office_daily", ("date", "office_id")),
}


def _walk(client: TestClient, path: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    token = None
    while True:
        answer = client.get(path, params={**params, **({"page_token": token} if token else {})}, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            return items, pages
        assert pages < 1000


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, float) or isinstance(value, float):
        if value is None or expected is None:
            return value is expected
        return math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-12)
    if hasattr(expected, "isoformat"):
        text = expected.isoformat()
        return value == text or value.replace("Z", "+00:00") == text
    return bool(value == expected)


def _assert_rows(items: list[dict[str, Any]], rows: list[tuple[Any, ...]], columns: list[str], where: str) -> None:
    assert len(items) == len(rows), where
    for item, row in zip(items, rows, strict=True):
        assert set(item) == set(columns), where
        for column, expected in zip(columns, row, strict=True):
            assert _same(item[column], expected), (where, column, item[column], expected)


def test_a_paged_walk_returns_every_gold_row_once_in_key_order(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    for path, (table, key) in PAGED.items():
        first, last = month_range(api_gold, table)
        columns = [c for c, in api_gold.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'gold' AND table_name = %s "
            "ORDER BY ordinal_position", (table,))]
        rows = api_gold.rows(f"SELECT {', '.join(columns)} FROM gold.{table} WHERE date BETWEEN %s AND %s "
                             f"ORDER BY {', '.join(key)}", (first, last))
        assert len(rows) > 7, f"{table}: too few rows for a walk of several pages"
        items, pages = _walk(client, path, {"from": first, "to": last, "page_size": 7}, headers)
        assert pages == math.ceil(len(rows) / 7) or (len(rows) % 7 == 0 and pages == len(rows) // 7 + 1)
        keys = [tuple(i[k] for k in key) for i in items]
        assert len(set(keys)) == len(keys), f"{path}: a row came twice"
        _assert_rows(items, rows, columns, path)


def test_filters_select_what_sql_selects(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    (region, channel), = api_gold.rows("SELECT region, channel FROM gold.kpi_enrollments_daily "
                                       "GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")
    (first, last), = api_gold.rows("SELECT min(date), max(date) - 1 FROM gold.kpi_enrollments_daily")
    expected, = api_gold.rows("SELECT count(*) FROM gold.kpi_enrollments_daily WHERE region = %s AND channel = %s "
                              "AND date BETWEEN %s AND %s", (region, channel, first, last))
    items, _ = _walk(client, "/v1/kpis/enrollments-daily", {"from": first.isoformat(), "to": last.isoformat(),
                                                            "region": region, "channel": channel}, headers)
    assert len(items) == expected[0] and {(i["region"], i["channel"]) for i in items} <= {(region, channel)}
    assert all(first.isoformat() <= i["date"] <= last.isoformat() for i in items)


def test_offices_current_and_as_of_a_time(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    columns = ["office_id", "name", "region", "district", "valid_from", "valid_to", "is_current"]
    current = api_gold.rows(f"SELECT {', '.join(columns)} FROM gold.dim_office WHERE is_current ORDER BY office_id")
    items, _ = _walk(client, "/v1/offices", {"page_size": 2}, headers)
    _assert_rows(items, current, columns, "current offices")
    # an office that moved: a version that ended; as of a moment inside it, that version is the answer
    moved = api_gold.rows("SELECT office_id, valid_from, valid_to, region FROM gold.dim_office "
                          "WHERE valid_to IS NOT NULL AND valid_from IS NOT NULL ORDER BY office_id LIMIT 1")
    assert moved, "the month has an office that moves region"
    office, start, end, region = moved[0]
    moment = start + (end - start) / 2
    answer = client.get(f"/v1/offices/{office}", params={"as_of": moment.isoformat()}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["region"] == region and answer.json()["is_current"] is False
    now = client.get(f"/v1/offices/{office}", headers=headers).json()
    (now_region,), = api_gold.rows("SELECT region FROM gold.dim_office WHERE office_id = %s AND is_current", (office,))
    assert now["region"] == now_region and now["is_current"] is True


def test_one_enrollment_is_its_fact_row_with_its_validations(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    (enrollment,), = api_gold.rows("SELECT enrollment_id FROM gold.fct_biometric_validations GROUP BY 1 "
                                   "ORDER BY count(*) DESC, 1 LIMIT 1")
    columns = ["enrollment_id", "office_id", "region", "channel", "status", "started_at", "completed_at",
               "cancelled_at", "minutes_to_complete"]
    row, = api_gold.rows(f"SELECT {', '.join(columns)} FROM gold.fct_enrollments WHERE enrollment_id = %s",
                         (enrollment,))
    validation_columns = ["validation_id", "modality", "result", "score", "event_time", "duration_ms"]
    validations = api_gold.rows(f"SELECT {', '.join(validation_columns)} FROM gold.fct_biometric_validations "
                                "WHERE enrollment_id = %s ORDER BY event_time, validation_id", (enrollment,))
    body = client.get(f"/v1/enrollments/{enrollment}", headers=headers).json()
    _assert_rows([{k: v for k, v in body.items() if k != "validations"}], [row], columns, "enrollment")
    _assert_rows(body["validations"], validations, validation_columns, "validations")
    assert "citizen_key" not in body and "national_id" not in body


def test_freshness_is_the_exports_bookkeeping(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/v1/freshness", headers=bearer(token(scopes=["freshness:read"]))).json()
    rows = api_gold.rows("SELECT table_name, delta_version, rows FROM gold._lakehouse_export ORDER BY table_name")
    assert [(t["table"], t["delta_version"], t["rows"]) for t in body["tables"]] == [tuple(r) for r in rows]
    assert len(rows) == 8  # the seven gold tables the build makes, and gold.alerts


def test_no_answer_holds_a_national_id_or_a_name(client: TestClient, api_gold: Gold, token,  # type: ignore[no-untyped-def]
                                                 spark: SparkSession) -> None:
    values = collect_values(spark, api_gold.root)
    assert values, "bronze holds national IDs and names to look for"
    headers = bearer(token())
    first, last = month_range(api_gold)
    texts = []
    for path in PAGED:
        texts += [client.get(path, params={"from": first, "to": last, "page_size": 200}, headers=headers).text]
    texts.append(client.get("/v1/offices", params={"page_size": 200}, headers=headers).text)
    for (enrollment,) in api_gold.rows("SELECT enrollment_id FROM gold.fct_enrollments"):
        texts.append(client.get(f"/v1/enrollments/{enrollment}", headers=headers).text)
    texts.append(client.get("/openapi.json").text)
    leaks = [leak for i, text in enumerate(texts) for leak in scan_text(text, f"answer {i}", values)]
    assert leaks == []
    # the scan does see a value when one is there (so the empty result means something)
    some_value = next(iter(values))
    assert scan_text('{"x": "' + some_value + '"}', "planted", values)


def test_alerts_are_gold_alerts_filtered_and_within_the_callers_regions(  # type: ignore[no-untyped-def]
        client: TestClient, api_gold: Gold, token) -> None:
    """Three incidents written into the exported table by hand (the month's lake opened none)."""
    assert api_gold.rows("SELECT count(*) FROM gold.alerts") == [(0,)]
    planted = [
        ("i-a", "match_rate_low", "critical", "open", "NORTE", "2026-10-02"),
        ("i-b", "batch_stale", "critical", "open", None, None),
        ("i-c", "validation_p95_high", "warning", "resolved", "SUR", "2026-10-01"),
    ]
    with connect(api_gold.owner) as conn:
        for incident, rule, severity, status, region, day in planted:
            conn.execute("INSERT INTO gold.alerts (incident_id, rule, severity, status, region, date, message, "
                         "opened_at) VALUES (%s, %s, %s, %s, %s, %s, 'planted', now())",
                         (incident, rule, severity, status, region, day))
    try:
        def ids(params: dict[str, str], regions: list[str] | str = "*") -> list[str]:
            answer = client.get("/v1/alerts", params=params, headers=bearer(token(scopes=["kpi:read"], regions=regions)))
            assert answer.status_code == 200, answer.text
            return [item["incident_id"] for item in answer.json()["items"]]

        assert ids({}) == ["i-a", "i-b", "i-c"]
        assert ids({"status": "open"}) == ["i-a", "i-b"]
        assert ids({"severity": "warning"}) == ["i-c"]
        assert ids({"from": "2026-10-02", "to": "2026-10-31"}) == ["i-a"]
        assert ids({}, regions=["SUR"]) == ["i-c"]  # an incident of no region is not a region's
        assert client.get("/v1/alerts", params={"status": "closed"},
                          headers=bearer(token(scopes=["kpi:read"]))).status_code == 422
        assert client.get("/v1/alerts", params={"from": "2026-10-02"},
                          headers=bearer(token(scopes=["kpi:read"]))).status_code == 400
    finally:
        with connect(api_gold.owner) as conn:
            conn.execute("DELETE FROM gold.alerts WHERE message = 'planted'")
