"""The API Gateway HTTP API in front of the Lambda function, generated from the app's own OpenAPI.

`conf/api/` holds what `lakehouse --config emr api gateway` writes:
- `gateway-openapi.json`: the HTTP API to import (`aws apigatewayv2 import-api --body file://...`):
  every route of the app's OpenAPI document, each integrated with the function (AWS_PROXY, payload
  format 2.0), each that needs a scope protected by the JWT authorizer with that scope (issuer and
  audience from `api`), `/healthz` and `/openapi.json` open;
- `stage.json`: the `$default` stage (`aws apigatewayv2 create-stage --cli-input-json`): throttling
  for every route and access logs in JSON to CloudWatch, naming the caller's subject, never a token.

The function's and the log group's ARNs are built from `aws.region` and `iam.account_id`.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from lakehouse.config import Config

AUTHORIZER = "jwt"
FUNCTION = "lakehouse-api"
LOG_GROUP = "/aws/apigateway/lakehouse-api"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# The access log line: request, route, caller (the token's subject as the authorizer read it),
# status, latency; not the query string, not a header.
ACCESS_LOG = {
    "requestId": "$context.requestId", "time": "$context.requestTime", "route": "$context.routeKey",
    "status": "$context.status", "latencyMs": "$context.responseLatency", "sourceIp": "$context.identity.sourceIp",
    "subject": "$context.authorizer.claims.sub", "error": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage",
}


def _arn(config: Config, service: str, resource: str) -> str:
    account = config.iam.account_id or "ACCOUNT_ID"
    return f"arn:{config.iam.partition}:{service}:{config.aws.region}:{account}:{resource}"


def function_arn(config: Config) -> str:
    return _arn(config, "lambda", f"function:{FUNCTION}")


def definition(config: Config, document: dict[str, Any]) -> dict[str, Any]:
    """The HTTP API for the app's OpenAPI `document` (see the module docstring)."""
    integration = {
        "type": "aws_proxy", "httpMethod": "POST", "payloadFormatVersion": "2.0", "timeoutInMillis": 10000,
        "uri": f"arn:{config.iam.partition}:apigateway:{config.aws.region}:lambda:path/2015-03-31/functions/"
               f"{function_arn(config)}/invocations",
    }
    paths: dict[str, Any] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            scope = operation.get("x-lakehouse-scope")
            route: dict[str, Any] = {"operationId": operation.get("operationId"),
                                     "summary": operation.get("summary", ""),
                                     "x-amazon-apigateway-integration": copy.deepcopy(integration)}
            route["security"] = [{AUTHORIZER: [scope]}] if scope else []
            paths.setdefault(path, {})[method] = route
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "summary": "the API's OpenAPI document",
                                      "security": [], "x-amazon-apigateway-integration": copy.deepcopy(integration)}}
    return {
        "openapi": "3.0.1",
        "info": {"title": document["info"]["title"], "version": document["info"]["version"]},
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": {AUTHORIZER: {
            "type": "oauth2", "flows": {},
            "x-amazon-apigateway-authorizer": {
                "type": "jwt", "identitySource": "$request.header.Authorization",
                "jwtConfiguration": {"issuer": config.api.issuer, "audience": [config.api.audience]},
            },
        }}},
    }


def stage(config: Config) -> dict[str, Any]:
    """The `$default` stage: throttling and access logs."""
    return {
        "StageName": "$default",
        "AutoDeploy": True,
        "DefaultRouteSettings": {"ThrottlingRateLimit": config.api.gateway_rate_limit,
                                 "ThrottlingBurstLimit": config.api.gateway_burst_limit,
                                 "DetailedMetricsEnabled": True},
        "AccessLogSettings": {"DestinationArn": _arn(config, "logs", f"log-group:{LOG_GROUP}"),
                              "Format": json.dumps(ACCESS_LOG, separators=(",", ":"))},
    }


def write(config: Config, document: dict[str, Any], output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in (("gateway-openapi.json", definition(config, document)), ("stage.json", stage(config))):
        path = output / name
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
