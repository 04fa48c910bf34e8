"""Caching: every answer has an ETag derived from the exported Delta versions it read and a
Cache-Control; If-None-Match with the current tag is a 304 that touches no table's rows (it is
answered while another transaction holds the table exclusively), and a landed export changes the tag."""
from __future__ import annotations

import threading

from api_support import Gold, bearer, month_range
from fastapi.testclient import TestClient

from lakehouse.sources.postgres import connect

KPI = "/v1/kpis/enrollments-daily"


def test_answers_carry_an_etag_and_a_revalidation_is_304(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    first, last = month_range(api_gold)
    params = {"from": first, "to": last}
    answer = client.get(KPI, params=params, headers=headers)
    etag = answer.headers["etag"]
    assert etag.startswith('W/"') and answer.headers["cache-control"].startswith("private, max-age=")
    assert "Authorization" in answer.headers["vary"]
    again = client.get(KPI, params=params, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # another query, another caller's regions, another tag
    assert client.get(KPI, params={**params, "page_size": 3}, headers=headers).headers["etag"] != etag
    (region,), = api_gold.rows("SELECT region FROM gold.kpi_enrollments_daily LIMIT 1")
    scoped = client.get(KPI, params=params, headers={**bearer(token(regions=[region])), "If-None-Match": etag})
    assert scoped.status_code == 200 and scoped.headers["etag"] != etag
    assert client.get(KPI, params=params, headers={**headers, "If-None-Match": 'W/"other"'}).status_code == 200
    (enrollment,), = api_gold.rows("SELECT enrollment_id FROM gold.fct_enrollments LIMIT 1")
    one = client.get(f"/v1/enrollments/{enrollment}", headers=headers)
    assert client.get(f"/v1/enrollments/{enrollment}",
                      headers={**headers, "If-None-Match": one.headers["etag"]}).status_code == 304


def test_a_304_reads_no_rows_of_the_table(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    first, last = month_range(api_gold)
    etag = client.get(KPI, params={"from": first, "to": last}, headers=headers).headers["etag"]
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with connect(api_gold.owner) as conn:
            conn.execute("LOCK TABLE gold.kpi_enrollments_daily IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        revalidated = client.get(KPI, params={"from": first, "to": last}, headers={**headers, "If-None-Match": etag})
        assert revalidated.status_code == 304
        # a full answer needs the rows: it waits for the lock until PostgreSQL's statement timeout
        full = client.get(KPI, params={"from": first, "to": last}, headers=headers)
        assert full.status_code == 503 and full.headers["content-type"] == "application/problem+json"
    finally:
        release.set()
        holder.join()


def test_a_landed_export_changes_the_tag(client: TestClient, api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token())
    first, last = month_range(api_gold)
    before = client.get(KPI, params={"from": first, "to": last}, headers=headers).headers["etag"]
    offices_before = client.get("/v1/offices", headers=headers).headers["etag"]
    with connect(api_gold.owner) as conn:  # what an export's swap records for the table it replaced
        conn.execute("UPDATE gold._lakehouse_export SET delta_version = delta_version + 1 "
                     "WHERE table_name = 'gold.kpi_enrollments_daily'")
        conn.commit()
    try:
        answer = client.get(KPI, params={"from": first, "to": last}, headers={**headers, "If-None-Match": before})
        assert answer.status_code == 200 and answer.headers["etag"] != before
        assert client.get("/v1/offices", headers={**headers, "If-None-Match": offices_before}).status_code == 304
    finally:
        with connect(api_gold.owner) as conn:
            conn.execute("UPDATE gold._lakehouse_export SET delta_version = delta_version - 1 "
                         "WHERE table_name = 'gold.kpi_enrollments_daily'")
            conn.commit()
