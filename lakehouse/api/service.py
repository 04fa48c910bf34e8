"""From config to a running API: the database it reads, its role, its keys, its settings.

The API reads the export's database (`export`) as `api.user`. Embedded (one machine): the project's
server is started for as long as the API runs, and the read-only role is made and granted there.
jdbc (RDS): the role must exist already (README, "API"); its password comes from `api.password`
(on AWS a Secrets Manager reference), and the database is checked to answer before the API starts.
Nothing here imports Spark: the Lambda zip carries this module.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import limits

from lakehouse.api import auth, roles
from lakehouse.api.app import ApiSettings
from lakehouse.config import Config
from lakehouse.errors import ConfigError
from lakehouse.security.secret_refs import resolve
from lakehouse.sources.postgres import Endpoint, connect, jdbc_endpoint


def key_lookup(config: Config) -> auth.KeyLookup:
    """The keys tokens are checked with: the dev key's public half, a JWKS file, or a JWKS URL."""
    jwks = config.api.jwks
    if jwks == "dev":
        if not config.api.dev_signing_key:
            raise ConfigError("api.jwks is 'dev' but api.dev_signing_key is not set")
        return auth.static_keys(auth.public_jwks(auth.dev_key(config.api.dev_signing_key)))
    if jwks.startswith("https://"):
        return auth.remote_keys(jwks)
    if jwks.startswith("http://"):
        raise ConfigError("api.jwks must be an https:// URL, a file or 'dev'")
    path = Path(jwks)
    try:
        return auth.static_keys(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise ConfigError(f"api.jwks: cannot read a JWKS from {path}: {type(err).__name__}") from None


def verifier(config: Config) -> auth.Verifier:
    return auth.Verifier(key_lookup(config), config.api.issuer, config.api.audience, config.api.region_claim)


def _password(config: Config) -> str:
    if config.api.password is None:
        raise ConfigError("api.password must be set: the API's database role logs in with it")
    return resolve(config.api.password).decode().strip()


def settings(config: Config, endpoint: Endpoint) -> ApiSettings:
    """The app's settings for reading `endpoint` (the API role's own)."""
    a = config.api
    try:
        limits.parse(a.rate_limit)
    except ValueError:
        raise ConfigError(f"api.rate_limit '{a.rate_limit}' is not a rate such as 100/second") from None
    return ApiSettings(
        conninfo=endpoint.conninfo(), password=endpoint.password, schema=config.export.schema,
        verifier=verifier(config), page_token_key=page_token_key(config),
        default_page_size=min(a.default_page_size, a.max_page_size), max_page_size=a.max_page_size,
        max_date_range_days=a.max_date_range_days, statement_timeout_ms=a.statement_timeout_ms,
        max_query_bytes=a.max_query_bytes, max_body_bytes=a.max_body_bytes, rate_limit=a.rate_limit,
        cache_max_age_seconds=a.cache_max_age_seconds, pool_max_size=a.pool_max_size)


def page_token_key(config: Config) -> bytes:
    """`api.page_token_key`; null: derived from the role's password (so the API needs one secret)."""
    if config.api.page_token_key is not None:
        return resolve(config.api.page_token_key)
    return hmac.new(_password(config).encode(), b"lakehouse api page tokens", hashlib.sha256).digest()


@contextlib.contextmanager
def reader_endpoint(config: Config) -> Iterator[Endpoint]:
    """The export database as the API's role, for as long as the API runs (see the module docstring)."""
    e = config.export
    if e.mode == "jdbc":
        yield jdbc_endpoint(e.jdbc_url, e.database, config.api.user, _password(config), "export")
        return
    if e.mode != "embedded":
        raise ConfigError(f"export.mode must be 'embedded' or 'jdbc', got '{e.mode}'")
    from lakehouse.local.postgres import embedded_endpoint

    def secret(ref):  # type: ignore[no-untyped-def]
        return resolve(ref).decode() if ref else None

    with embedded_endpoint(e.embedded_dir, e.database, e.user, secret(e.password),
                           secret(e.embedded_admin_password), "export") as owner:
        admin = Endpoint(owner.host, owner.port, e.database, "postgres", secret(e.embedded_admin_password))
        reader_password = _password(config)
        with connect(admin, "the export database's superuser") as conn:
            conn.autocommit = True
            roles.ensure_reader(conn, e.database, e.schema, e.user, config.api.user, reader_password,
                                config.api.statement_timeout_ms)
        yield Endpoint(owner.host, owner.port, e.database, config.api.user, reader_password)


def token(config: Config, subject: str, scopes: list[str], regions: list[str], ttl_seconds: int) -> str:
    """A development token signed by the local key (`lakehouse api token`)."""
    key = config.api.dev_signing_key
    if config.api.jwks != "dev" or not key:
        raise ConfigError("lakehouse api token signs with the local key: api.jwks must be 'dev' (on AWS the "
                          "identity provider issues the tokens)")
    if not regions:
        raise ConfigError("name the token's regions (--region R, repeatable; --region '*' for every region)")
    a = config.api
    return auth.issue(auth.dev_key(key), a.issuer, a.audience, a.region_claim, subject, scopes,
                      regions, ttl_seconds)


def openapi_document(config: Config) -> dict[str, Any]:
    """The app's OpenAPI document under `config`'s limits, built without a database or a key."""
    from lakehouse.api.app import create_app

    def no_keys(kid: str | None) -> Any:
        raise auth.Unauthorized("no keys")

    a = config.api
    app = create_app(ApiSettings(conninfo="", password=None, schema=config.export.schema,
                                 verifier=auth.Verifier(no_keys, a.issuer, a.audience, a.region_claim),
                                 page_token_key=b"\0" * 32, default_page_size=min(a.default_page_size, a.max_page_size),
                                 max_page_size=a.max_page_size, max_date_range_days=a.max_date_range_days))
    return app.openapi()
