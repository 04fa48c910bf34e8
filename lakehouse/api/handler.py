"""The API on AWS Lambda behind an API Gateway HTTP API (payload format 2.0), through Mangum.

The environment names the config (`LAKEHOUSE_ENV`, default "emr": `conf/emr.yaml`, the AWS one);
the app and its connection pool are built once per Lambda instance, at the first event (the cold
start), and kept for the next.
"""
from __future__ import annotations

import os
from typing import Any

from mangum import Mangum

_handler: Mangum | None = None


def _build() -> Mangum:
    from lakehouse.api import service
    from lakehouse.api.app import create_app
    from lakehouse.config import load_config
    from lakehouse.sources.postgres import jdbc_endpoint

    config = load_config(os.environ.get("LAKEHOUSE_ENV", "emr"))
    e = config.export
    endpoint = jdbc_endpoint(e.jdbc_url, e.database, config.api.user, service._password(config), "export")
    return make_handler(create_app(service.settings(config, endpoint)))


def make_handler(app: Any) -> Mangum:
    """Mangum around `app`, no lifespan: Mangum would run it per event; the pool opens at the first
    request instead and lives as long as the instance."""
    return Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:
        _handler = _build()
    return _handler(event, context)  # type: ignore[no-any-return]
