"""The ASGI app: gold's KPIs, offices, enrollments and freshness under `/v1`, read-only.

`create_app(settings)` builds it; `lakehouse serve` runs it with uvicorn, `lakehouse.api.handler`
on Lambda through Mangum. Every route but `/healthz` and `/openapi.json` needs a bearer token with
the route's scope (`auth`), and reads only the rows of the token's regions. A route's answer is
built from its response model (`models`), carries an `ETag` derived from the exported Delta
versions it read and `Cache-Control: private, max-age=...`; `If-None-Match` with the current tag
is a 304 that reads the bookkeeping table alone.
"""

import contextlib
import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, Literal

import limits
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from psycopg_pool import AsyncConnectionPool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lakehouse.api import models, problems
from lakehouse.api.auth import Caller, Forbidden, Unauthorized, Verifier
from lakehouse.api.gold import (
    ALERTS,
    ENROLLMENTS_DAILY,
    OFFICE_DAILY,
    OFFICES,
    VALIDATION_TIMES_DAILY,
    Conditions,
    Gold,
    Resource,
)
from lakehouse.api.pages import PageTokens, fingerprint
from lakehouse.api.problems import BadRequest, NotFound, TooManyRequests, problem

VERSION = "1.0.0"
SECURITY_SCHEME = "bearer"
# A text parameter: no control characters (PostgreSQL refuses NUL), at most 100 characters.
TEXT = r"^[^\x00-\x1f\x7f]+$"
TEXT_MAX = 100


@dataclass(frozen=True)
class ApiSettings:
    """What the app needs, resolved (the app layer builds it from `Config.api` and `Config.export`)."""

    conninfo: str
    password: str | None
    schema: str
    verifier: Verifier
    page_token_key: bytes
    default_page_size: int = 100
    max_page_size: int = 1000
    max_date_range_days: int = 366
    statement_timeout_ms: int = 2000
    max_query_bytes: int = 2048
    max_body_bytes: int = 1024
    rate_limit: str = "100/second"
    cache_max_age_seconds: int = 60
    pool_max_size: int = 4


class RequestLimits:
    """Refuses, before any routing, a query string over `max_query_bytes` (414) and a body over
    `max_body_bytes` or of unannounced length (413)."""

    def __init__(self, app: ASGIApp, max_query_bytes: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_query_bytes = max_query_bytes
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        if len(scope.get("query_string", b"")) > self.max_query_bytes:
            return problem(414, f"the query string is longer than {self.max_query_bytes} bytes")
        headers = dict(scope.get("headers", ()))
        length = headers.get(b"content-length")
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return problem(413, "a request body of unannounced length is not accepted")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return problem(413, f"the request body is larger than {self.max_body_bytes} bytes")
        return None


class RateLimiter:
    """Requests per caller in a sliding window (the `limits` library, in this process's memory; the
    gateway's throttling is the limit across instances)."""

    def __init__(self, rate: str) -> None:
        self.item = limits.parse(rate)
        self.limiter = limits.strategies.SlidingWindowCounterRateLimiter(limits.storage.MemoryStorage())

    def hit(self, key: str) -> None:
        if not self.limiter.hit(self.item, key):
            reset = self.limiter.get_window_stats(self.item, key).reset_time
            raise TooManyRequests(max(1, math.ceil(reset - time.time())))


def _problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {s: {"description": HTTPStatus(s).phrase, "content": {problems.MEDIA_TYPE: {"schema": schema}}}
            for s in statuses}


COMMON_ERRORS = (400, 401, 403, 413, 414, 422, 429, 500, 503)
CACHED = {304: {"description": "Not Modified: the answer for the If-None-Match tag is still current"}}


def _etag(versions: dict[str, int], tables: Iterable[str], request: Request, caller: Caller) -> str:
    read = {t: versions.get(t) for t in sorted(tables)}
    text = json.dumps([read, request.url.path, sorted(request.query_params.multi_items()), caller.region_scope])
    return 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip() for t in header.split(",")}
    return "*" in tags or etag in tags or etag.removeprefix("W/") in tags


def create_app(settings: ApiSettings) -> FastAPI:
    pages = PageTokens(settings.page_token_key)
    limiter = RateLimiter(settings.rate_limit)
    pool = AsyncConnectionPool(
        settings.conninfo, open=False, min_size=1, max_size=settings.pool_max_size, timeout=5,
        kwargs={"password": settings.password, "application_name": "lakehouse-api", "connect_timeout": 5,
                "options": f"-c statement_timeout={settings.statement_timeout_ms} -c default_transaction_read_only=on"})
    gold = Gold(pool, settings.schema)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gold.open()
        try:
            yield
        finally:
            await gold.close()

    app = FastAPI(title="lakehouse gold API", version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None,
                  generate_unique_id_function=lambda route: route.name,
                  description="Gold KPIs, offices and enrollments of the identity registry, read-only.")
    problems.install(app)

    def scoped(scope: str) -> Callable[[Request], Awaitable[Caller]]:
        async def caller(request: Request) -> Caller:
            address = request.client.host if request.client else "unknown"
            try:
                who = settings.verifier.verify(request.headers.get("authorization"))
            except Unauthorized:
                limiter.hit(f"address:{address}")  # failed attempts count against the address
                raise
            limiter.hit(f"subject:{who.subject}")
            who.require(scope)
            if who.regions is not None and not who.regions:
                raise Forbidden("this token grants no region")
            return who

        return caller

    def answer(model: models.Model, etag: str) -> Response:
        return Response(model.model_dump_json(), media_type="application/json", headers=_cache_headers(etag))

    def _cache_headers(etag: str) -> dict[str, str]:
        return {"ETag": etag, "Cache-Control": f"private, max-age={settings.cache_max_age_seconds}",
                "Vary": "Authorization"}

    async def not_modified(request: Request, caller: Caller, tables: Iterable[str]) -> Response | None:
        header = request.headers.get("if-none-match")
        if not header:
            return None
        etag = _etag(await gold.versions(), tables, request, caller)
        return Response(status_code=304, headers=_cache_headers(etag)) if _matches(header, etag) else None

    def date_range(date_from: dt.date, date_to: dt.date) -> None:
        if date_from > date_to:
            raise BadRequest("from is after to")
        if (date_to - date_from).days + 1 > settings.max_date_range_days:
            raise BadRequest(f"the date range is longer than {settings.max_date_range_days} days")

    async def serve_page(request: Request, caller: Caller, r: Resource, page_model: type[models.Page],
                         q: Conditions, page_size: int, page_token: str | None) -> Response:
        if (cached := await not_modified(request, caller, [r.full_name])) is not None:
            return cached
        query = fingerprint(r.table, dict(q.filters), q.date_from, q.date_to, q.as_of, caller.region_scope)
        after = pages.read(page_token, query, len(r.key)) if page_token else None
        rows, versions = await gold.page(r, q, after, page_size + 1)
        more = len(rows) > page_size
        rows = rows[:page_size]
        token = pages.issue(query, [rows[-1][c] for c in r.key]) if more else None
        page = page_model.model_validate({"items": rows, "next_page_token": token})
        return answer(page, _etag(versions, [r.full_name], request, caller))

    KpiCaller = Annotated[Caller, Depends(scoped("kpi:read"))]
    EnrollmentCaller = Annotated[Caller, Depends(scoped("enrollment:read"))]
    FreshnessCaller = Annotated[Caller, Depends(scoped("freshness:read"))]
    PageSize = Annotated[int, Query(ge=1, le=settings.max_page_size, description="rows per page")]
    PageToken = Annotated[str | None, Query(max_length=512, description="next_page_token of the previous page")]
    Text = Annotated[str | None, Query(max_length=TEXT_MAX, pattern=TEXT)]
    From = Annotated[dt.date, Query(alias="from", description="first date (UTC), inclusive")]
    To = Annotated[dt.date, Query(alias="to", description="last date (UTC), inclusive")]
    Id = Annotated[str, Path(max_length=TEXT_MAX, pattern=TEXT)]

    async def known_parameters(request: Request) -> None:
        """A query parameter the route does not declare is refused (it would be silently ignored)."""
        route = request.scope.get("route")
        declared = {p.alias for p in route.dependant.query_params} if route is not None else set()
        if set(request.query_params) - declared:
            raise BadRequest("a query parameter this route does not take")

    def route(scope: str, model: type[models.Model], *errors: int, **extra: Any) -> dict[str, Any]:
        return {"response_model": model, "responses": {**CACHED, **_problem_responses(*COMMON_ERRORS, *errors)},
                "dependencies": [Depends(known_parameters)],
                "openapi_extra": {"security": [{SECURITY_SCHEME: [scope]}], "x-lakehouse-scope": scope}, **extra}

    def filters(**values: str | None) -> dict[str, str]:
        return {k: v for k, v in values.items() if v is not None}

    @app.get("/v1/kpis/enrollments-daily", **route("kpi:read", models.EnrollmentsDailyPage),
             summary="Enrollments started, completed and cancelled per day, region and channel")
    async def enrollments_daily(request: Request, caller: KpiCaller, date_from: From, date_to: To,
                                region: Text = None,
                                channel: Text = None, page_size: PageSize = settings.default_page_size,
                                page_token: PageToken = None) -> Response:
        date_range(date_from, date_to)
        q = Conditions(filters(region=region, channel=channel), date_from, date_to, caller.regions)
        return await serve_page(request, caller, ENROLLMENTS_DAILY, models.EnrollmentsDailyPage, q, page_size,
                                page_token)

    @app.get("/v1/kpis/validation-times-daily", **route("kpi:read", models.ValidationTimesDailyPage),
             summary="Biometric validations and their times per day, region and modality")
    async def validation_times_daily(request: Request, caller: KpiCaller, date_from: From, date_to: To,
                                     region: Text = None,
                                     modality: Text = None, page_size: PageSize = settings.default_page_size,
                                     page_token: PageToken = None) -> Response:
        date_range(date_from, date_to)
        q = Conditions(filters(region=region, modality=modality), date_from, date_to, caller.regions)
        return await serve_page(request, caller, VALIDATION_TIMES_DAILY, models.ValidationTimesDailyPage, q,
                                page_size, page_token)

    @app.get("/v1/kpis/offices-daily", **route("kpi:read", models.OfficeDailyPage),
             summary="Office operations per day: appointments, staffed hours, completed enrollments")
    async def offices_daily(request: Request, caller: KpiCaller, date_from: From, date_to: To,
                            region: Text = None,
                            office_id: Text = None, page_size: PageSize = settings.default_page_size,
                            page_token: PageToken = None) -> Response:
        date_range(date_from, date_to)
        q = Conditions(filters(region=region, office_id=office_id), date_from, date_to, caller.regions)
        return await serve_page(request, caller, OFFICE_DAILY, models.OfficeDailyPage, q, page_size, page_token)

    AsOf = Annotated[dt.datetime | None, Query(description="the version valid at this time (UTC); default: current")]

    @app.get("/v1/offices", **route("kpi:read", models.OfficePage), summary="Offices, current or as of a time")
    async def offices(request: Request, caller: KpiCaller, region: Text = None, as_of: AsOf = None,
                      page_size: PageSize = settings.default_page_size, page_token: PageToken = None) -> Response:
        q = Conditions(filters(region=region), regions=caller.regions, as_of=_utc(as_of))
        return await serve_page(request, caller, OFFICES, models.OfficePage, q, page_size, page_token)

    @app.get("/v1/offices/{office_id}", **route("kpi:read", models.Office, 404), summary="One office")
    async def office(request: Request, caller: KpiCaller, office_id: Id, as_of: AsOf = None) -> Response:
        if (cached := await not_modified(request, caller, [OFFICES.full_name])) is not None:
            return cached
        row, versions = await gold.office(office_id, Conditions({}, regions=caller.regions, as_of=_utc(as_of)))
        if row is None:
            raise NotFound("no such office")
        return answer(models.Office(**row), _etag(versions, [OFFICES.full_name], request, caller))

    Status = Annotated[Literal["open", "resolved"] | None, Query(description="open or resolved; default: both")]
    Severity = Annotated[Literal["info", "warning", "critical"] | None, Query()]
    DateFrom = Annotated[dt.date | None, Query(alias="from", description="first incident date (UTC), inclusive")]
    DateTo = Annotated[dt.date | None, Query(alias="to", description="last incident date (UTC), inclusive")]

    @app.get("/v1/alerts", **route("kpi:read", models.AlertPage),
             summary="Alert incidents (gold.alerts): one per rule and key, open or resolved")
    async def alerts(request: Request, caller: KpiCaller, status: Status = None, severity: Severity = None,
                     rule: Text = None, region: Text = None, date_from: DateFrom = None, date_to: DateTo = None,
                     page_size: PageSize = settings.default_page_size, page_token: PageToken = None) -> Response:
        if (date_from is None) != (date_to is None):
            raise BadRequest("from and to go together")
        if date_from is not None and date_to is not None:
            date_range(date_from, date_to)
        q = Conditions(filters(status=status, severity=severity, rule=rule, region=region), date_from, date_to,
                       caller.regions)
        return await serve_page(request, caller, ALERTS, models.AlertPage, q, page_size, page_token)

    enrollment_tables = ("gold.fct_enrollments", "gold.fct_biometric_validations")

    @app.get("/v1/enrollments/{enrollment_id}", **route("enrollment:read", models.Enrollment, 404),
             summary="One enrollment's status and timings, with its biometric validations")
    async def enrollment(request: Request, caller: EnrollmentCaller, enrollment_id: Id) -> Response:
        if (cached := await not_modified(request, caller, enrollment_tables)) is not None:
            return cached
        row, versions = await gold.enrollment(enrollment_id, caller.regions)
        if row is None:
            raise NotFound("no such enrollment")
        validations = [models.Validation(**v) for v in row.pop("validations")]
        return answer(models.Enrollment(**row, validations=validations),
                      _etag(versions, enrollment_tables, request, caller))

    @app.get("/v1/freshness", **route("freshness:read", models.Freshness),
             summary="Each exported gold table: its Delta version, commit time and export time")
    async def freshness(request: Request, caller: FreshnessCaller) -> Response:
        rows = await gold.freshness()
        versions = {r["table_name"]: r["delta_version"] for r in rows}
        etag = _etag(versions, versions, request, caller)
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=_cache_headers(etag))
        tables = [models.TableFreshness(table=r.pop("table_name"), **r) for r in rows]
        return answer(models.Freshness(tables=tables), etag)

    @app.get("/healthz", response_model=models.Health, responses=_problem_responses(503),
             summary="Whether the API reaches its database")
    async def healthz() -> Response:
        await gold.ping()
        return Response(models.Health(status="ok").model_dump_json(), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            components = document.setdefault("components", {})
            components.setdefault("schemas", {})["Problem"] = models.Problem.model_json_schema()
            components["securitySchemes"] = {SECURITY_SCHEME: {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "a JWT (RS256 or ES256) from the identity provider, with the route's scope"}}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(RequestLimits, max_query_bytes=settings.max_query_bytes,  # type: ignore[arg-type]
                       max_body_bytes=settings.max_body_bytes)
    app.state.pool = pool
    app.state.gold = gold
    return app


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value
