"""Errors as RFC 9457 problem details: a status, a title, a one-line detail, never SQL, a stack
trace, a secret or the value a caller sent."""
from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lakehouse.api.auth import Forbidden, Unauthorized
from lakehouse.api.pages import BadPageToken

MEDIA_TYPE = "application/problem+json"
NO_STORE = {"Cache-Control": "no-store"}
log = logging.getLogger("lakehouse.api")


class BadRequest(Exception):  # noqa: N818
    """A request the API refuses (400): the message says which rule it broke."""


class NotFound(Exception):  # noqa: N818
    """No such object for this caller (404), whether it does not exist or is another region's."""


class TooManyRequests(Exception):  # noqa: N818
    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limit exceeded")
        self.retry_after = retry_after


def problem(status: int, detail: str | None = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    return Response(json.dumps(body), status_code=status, media_type=MEDIA_TYPE,
                    headers={**NO_STORE, **(headers or {})})


def _validation_detail(err: RequestValidationError) -> str:
    """Which parameters failed and why, without the values sent."""
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    """The exception handlers that turn every failure into problem details."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Response:
        phrase = HTTPStatus(err.status_code).phrase
        detail = err.detail if isinstance(err.detail, str) and err.detail != phrase else None
        return problem(err.status_code, detail, dict(err.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        return problem(422, _validation_detail(err))

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, err: Unauthorized) -> Response:
        return problem(401, str(err), {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, err: Forbidden) -> Response:
        return problem(403, str(err), {"WWW-Authenticate": 'Bearer error="insufficient_scope"'})

    @app.exception_handler(BadPageToken)
    async def bad_token(request: Request, err: BadPageToken) -> Response:
        return problem(400, str(err))

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, err: BadRequest) -> Response:
        return problem(400, str(err))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, err: NotFound) -> Response:
        return problem(404, str(err))

    @app.exception_handler(TooManyRequests)
    async def too_many(request: Request, err: TooManyRequests) -> Response:
        return problem(429, "rate limit exceeded", {"Retry-After": str(err.retry_after)})

    @app.exception_handler(PoolTimeout)
    async def busy(request: Request, err: PoolTimeout) -> Response:
        return problem(503, "the database is busy: retry shortly", {"Retry-After": "1"})

    @app.exception_handler(psycopg.Error)
    async def database(request: Request, err: psycopg.Error) -> Response:
        if isinstance(err, psycopg.errors.QueryCanceled):
            return problem(503, "the query took longer than the API allows", {"Retry-After": "1"})
        if isinstance(err, psycopg.errors.UndefinedTable):
            return problem(503, "gold has not been exported to PostgreSQL yet", {"Retry-After": "60"})
        log.error("database error on %s: %s", request.url.path, type(err).__name__)
        return problem(503, "the database cannot answer now", {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> Response:
        log.error("internal error on %s: %s", request.url.path, type(err).__name__)
        return problem(500, "internal error")
