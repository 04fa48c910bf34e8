"""Limits and abuse (OWASP API4, API8): caps on page size, date range, query string and body; a
rate limit per caller; forged page tokens; SQL metacharacters and huge values in every parameter.
Every refusal is problem details that echo neither the value sent nor SQL."""
from __future__ import annotations

import psycopg
import pytest
from api_support import Gold, bearer, client_with, month_range
from fastapi.testclient import TestClient

from lakehouse.api.app import ApiSettings

KPI = "/v1/kpis/enrollments-daily"
NASTY = ["'; DROP TABLE gold.fct_enrollments; --", "' OR '1'='1", "\" OR 1=1 --", "%' UNION SELECT 1 --",
         "$$; SELECT pg_sleep(10); $$", "\\x00", "../../etc/passwd", "ä" * 100, "*"]


def _is_problem(answer, status: int) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == status and body["title"]
    assert "SELECT" not in answer.text and "Traceback" not in answer.text and "psycopg" not in answer.text


def test_page_size_and_date_range_above_the_caps(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    first, _ = month_range(api_gold)
    _is_problem(client.get(KPI, params={"from": first, "to": first, "page_size": 201}, headers=headers), 422)
    _is_problem(client.get(KPI, params={"from": first, "to": first, "page_size": 0}, headers=headers), 422)
    # 2026-01-01 to 2026-04-03 is 31 + 28 + 31 + 3 = 93 days (the test app's cap); one more is refused
    _is_problem(client.get(KPI, params={"from": "2026-01-01", "to": "2026-04-04"}, headers=headers), 400)
    assert client.get(KPI, params={"from": "2026-01-01", "to": "2026-04-03"}, headers=headers).status_code == 200
    _is_problem(client.get(KPI, params={"from": "2026-02-01", "to": "2026-01-01"}, headers=headers), 400)
    _is_problem(client.get(KPI, params={"to": "2026-01-01"}, headers=headers), 422)


def test_long_query_strings_and_bodies_are_refused_before_routing(client: TestClient, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    _is_problem(client.get(KPI, params={"region": "x" * 3000}, headers=headers), 414)
    _is_problem(client.request("GET", KPI, content=b"x" * 2000, headers=headers), 413)
    _is_problem(client.get("/no/such/path?" + "a=1&" * 600), 414)


def test_sql_metacharacters_and_huge_values_in_every_parameter(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    first, last = month_range(api_gold)
    (count_before,), = api_gold.rows("SELECT count(*) FROM gold.fct_enrollments")
    for value in NASTY:
        for path, name in ((KPI, "region"), (KPI, "channel"), ("/v1/kpis/validation-times-daily", "modality"),
                           ("/v1/kpis/offices-daily", "office_id"), ("/v1/offices", "region")):
            dates = {"from": first, "to": last} if path != "/v1/offices" else {}
            answer = client.get(path, params={**dates, name: value}, headers=headers)
            if answer.status_code == 200:
                assert answer.json()["items"] == [], (path, name, value)
            else:
                _is_problem(answer, 422)
        for path in ("/v1/enrollments/", "/v1/offices/"):
            answer = client.get(path + value.replace("/", "%2F"), headers=headers)
            assert answer.status_code in (404, 422), (path, value, answer.status_code)
        for name in ("from", "to", "page_size"):
            _is_problem(client.get(KPI, params={"from": first, "to": last, name: value}, headers=headers), 422)
        _is_problem(client.get("/v1/offices", params={"as_of": value}, headers=headers), 422)
        # a parameter the route does not take is refused, not ignored
        _is_problem(client.get(KPI, params={"from": first, "to": last, value: "1"}, headers=headers), 400)
    _is_problem(client.get(KPI, params={"from": first, "to": last, "page_size": 10 ** 30}, headers=headers), 422)
    _is_problem(client.get(KPI, params={"from": "99999-01-01", "to": last}, headers=headers), 422)
    assert api_gold.rows("SELECT count(*) FROM gold.fct_enrollments") == [(count_before,)]


def test_forged_and_foreign_page_tokens_are_400(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    first, last = month_range(api_gold)
    page = client.get(KPI, params={"from": first, "to": last, "page_size": 3}, headers=headers).json()
    real = page["next_page_token"]
    assert real
    body, signature = real.split(".")
    for forged in (real[:-2] + ("AA" if not real.endswith("AA") else "BB"), body + ".", "x" * 600, "not-a-token",
                   "eyJrIjpbIjE5NzAtMDEtMDEiLCJhIiwiYiJdfQ." + signature):
        _is_problem(client.get(KPI, params={"from": first, "to": last, "page_token": forged}, headers=headers),
                    400 if len(forged) <= 512 else 422)
    # the same token for another query: other dates, another filter, another caller's regions
    for other in ({"from": first, "to": first}, {"from": first, "to": last, "channel": "web"}):
        _is_problem(client.get(KPI, params={**other, "page_token": real}, headers=headers), 400)
    (region,), = api_gold.rows("SELECT region FROM gold.kpi_enrollments_daily LIMIT 1")
    _is_problem(client.get(KPI, params={"from": first, "to": last, "page_token": real},
                           headers=bearer(token(regions=[region]))), 400)
    assert client.get(KPI, params={"from": first, "to": last, "page_size": 3, "page_token": real},
                      headers=headers).status_code == 200


def test_bursts_above_the_rate_limit_are_429_with_retry_after(api_settings: ApiSettings, api_gold: Gold,
                                                              token) -> None:  # type: ignore[no-untyped-def]
    first, last = month_range(api_gold)
    with client_with(api_settings, rate_limit="5/minute") as limited:
        mine, other = bearer(token(sub="caller-a")), bearer(token(sub="caller-b"))
        statuses = [limited.get(KPI, params={"from": first, "to": last}, headers=mine).status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
        refused = limited.get(KPI, params={"from": first, "to": last}, headers=mine)
        _is_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert limited.get(KPI, params={"from": first, "to": last}, headers=other).status_code == 200
        # failed logins count against the address
        bad = [limited.get(KPI, headers={"Authorization": "Bearer x"}).status_code for _ in range(7)]
        assert bad[:5] == [401] * 5 and bad[5:] == [429] * 2


def test_postgresql_cancels_a_statement_over_the_timeout(api_settings: ApiSettings) -> None:
    with client_with(api_settings, statement_timeout_ms=100) as short:
        pool = short.app.state.pool  # type: ignore[attr-defined]

        async def sleep() -> str:
            async with pool.connection() as conn:
                setting = (await (await conn.execute("SHOW statement_timeout")).fetchone())[0]
                with pytest.raises(psycopg.errors.QueryCanceled):
                    await conn.execute("SELECT pg_sleep(2)")
                return str(setting)

        assert short.portal.call(sleep) == "100ms"  # type: ignore[union-attr]
