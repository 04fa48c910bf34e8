"""The API under test: the shared month's gold, exported to a database of the session's PostgreSQL,
read through the read-only role `lakehouse_api`, and an app with a local signing key.

`api_gold` copies the month (the export writes its staging zone: the month itself is never written),
exports it with the real export, and grants the reader with `lakehouse.api.roles`. Tokens are
made here with PyJWT directly (not with `lakehouse.api.auth.issue`), so a test's token is not the
code under test's.
"""
from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from api_support import ALL_SCOPES, AUDIENCE, ISSUER, READER, READER_PASSWORD, REGION_CLAIM, Gold
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from month_lake import Month
from pyspark.sql import SparkSession

from lakehouse.api import auth, roles
from lakehouse.api.app import ApiSettings, create_app
from lakehouse.local.postgres import EmbeddedPostgres
from lakehouse.publish.export import export_gold
from lakehouse.security.secret_refs import resolve
from lakehouse.sources.postgres import Endpoint, connect


@pytest.fixture(scope="session")
def api_gold(spark: SparkSession, month: Month, pg_server: EmbeddedPostgres, pg_secrets: dict[str, Any],
             tmp_path_factory: pytest.TempPathFactory) -> Gold:
    root = str(tmp_path_factory.mktemp("api") / "month")
    subprocess.run(["cp", "-a", month.root, root], check=True)
    database = f"api_{uuid.uuid4().hex[:10]}"
    owner = pg_server.database_endpoint(database)
    export_gold(spark, root, owner, "gold")
    admin = Endpoint(owner.host, owner.port, database, "postgres", resolve(pg_secrets["embedded_admin_password"]).decode())
    with connect(admin) as conn:
        conn.autocommit = True
        roles.ensure_reader(conn, database, "gold", owner.user, READER, READER_PASSWORD, 2000)
    return Gold(root, owner, Endpoint(owner.host, owner.port, database, READER, READER_PASSWORD), admin)


@dataclass(frozen=True)
class Keys:
    """The signing keys the test API trusts (an EC and an RSA key) and one it does not."""

    ec: ec.EllipticCurvePrivateKey
    rsa: rsa.RSAPrivateKey
    stranger: ec.EllipticCurvePrivateKey

    def jwks(self) -> dict[str, Any]:
        import json

        keys = [dict(json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key())), kid="ec-1"),
                dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())), kid="rsa-1")]
        return {"keys": keys}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048),
                ec.generate_private_key(ec.SECP256R1()))


Token = Callable[..., str]


@pytest.fixture(scope="session")
def token(keys: Keys) -> Token:
    """`token(scopes=..., regions=..., **claims)`: an ES256 token the API trusts; `alg`/`key`/`kid` change how it is signed."""
    def make(scopes: list[str] | None = None, regions: list[str] | str | None = "*", alg: str = "ES256",
             key: Any = None, kid: str | None = None, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "tests", "iat": now, "exp": now + 300,
                "scope": " ".join(ALL_SCOPES if scopes is None else scopes)}
        if regions is not None:
            body[REGION_CLAIM] = regions
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signing = key if key is not None else (keys.rsa if alg == "RS256" else keys.ec)
        kid = kid if kid is not None else ("rsa-1" if alg == "RS256" else "ec-1")
        return jwt.encode(body, signing, algorithm=alg, headers={"kid": kid, **(headers or {})})

    return make


@pytest.fixture(scope="session")
def api_settings(api_gold: Gold, keys: Keys) -> ApiSettings:
    verifier = auth.Verifier(auth.static_keys(keys.jwks()), ISSUER, AUDIENCE, REGION_CLAIM)
    return ApiSettings(api_gold.reader.conninfo(), api_gold.reader.password, "gold", verifier, b"p" * 32,
                       default_page_size=50, max_page_size=200, max_date_range_days=93, rate_limit="100000/second")


@pytest.fixture(scope="session")
def client(api_settings: ApiSettings) -> Iterator[TestClient]:
    """The app over the exported month, its lifespan running (the pool open) for the session."""
    with TestClient(create_app(api_settings), raise_server_exceptions=False) as test_client:
        yield test_client




@pytest.fixture(scope="session")
def api_token(token: Token) -> str:
    return token()


@pytest.fixture(scope="session")
def api_server(api_settings: ApiSettings) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 from a thread of this process (its own event loop,
    its pool open): the base URL."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(api_settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def api_schema(api_server: str):  # type: ignore[no-untyped-def]
    """The app's own OpenAPI document, for schemathesis to fuzz against the served app."""
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    # A request valid by the schema may still break a rule between parameters that OpenAPI cannot
    # state (from after to, a range over the cap): a 400 is a right answer to "positive" data too;
    # and an invalid one may be refused before routing for its length (413, 414).
    config = SchemathesisConfig.from_dict({"checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "414", "429"]},
        "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413",
                                                          "414", "415", "422", "428", "429", "5xx"]}}})
    return schemathesis.openapi.from_url(f"{api_server}/openapi.json", config=config)
