"""The API's sub-commands: `serve`, and `api token | gateway | package`."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from lakehouse.config import Config


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    import uvicorn

    from lakehouse.api import service
    from lakehouse.api.app import create_app

    # uvicorn re-raises a SIGTERM once it has shut down; as KeyboardInterrupt it unwinds through the
    # `with` below, so the embedded PostgreSQL this command started is stopped too
    signal.signal(signal.SIGTERM, _interrupt)
    host = args.host or config.api.host
    port = args.port or config.api.port
    with service.reader_endpoint(config) as endpoint:
        app = create_app(service.settings(config, endpoint))
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", access_log=True,
                                               server_header=False))
        if args.timeout:  # a daemon: an interrupted server does not wait for it
            timer = threading.Timer(args.timeout, lambda: setattr(server, "should_exit", True))
            timer.daemon = True
            timer.start()
        print(f"serving gold from PostgreSQL schema {config.export.schema} at http://{host}:{port}/v1 "
              f"(as role {config.api.user}; /openapi.json; Ctrl-C stops)", flush=True)
        server.run()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_api(config: Config, args: argparse.Namespace) -> int:
    from lakehouse.api import service

    if args.action == "token":
        print(service.token(config, args.subject, args.scope or ["kpi:read"], args.region or [], args.ttl))
    elif args.action == "gateway":
        from lakehouse.api import gateway

        written = gateway.write(config, service.openapi_document(config), Path(args.output))
        print(f"wrote {', '.join(str(p) for p in written)}")
    else:
        from lakehouse.api import package

        names = package.build(Path(args.output), progress=lambda line: print(line, file=sys.stderr, flush=True))
        print(f"wrote {args.output} ({len(names)} files); handler: {package.HANDLER}")
    return 0


def add_commands(sub: Any) -> None:
    s = sub.add_parser("serve", help="the HTTP API over the exported gold schema (README, \"API\")")
    s.add_argument("--host", help="default api.host (127.0.0.1)")
    s.add_argument("--port", type=int, help="default api.port (8080)")
    s.add_argument("--timeout", type=float, help="stop after this many seconds")
    s.set_defaults(func=cmd_serve)
    a = sub.add_parser("api", help="the API: token (a development JWT), gateway (conf/api/), package (its Lambda zip)")
    actions = a.add_subparsers(dest="action", required=True)
    t = actions.add_parser("token", help="print a JWT signed by the local key (api.dev_signing_key)")
    t.add_argument("--scope", action="append", choices=["kpi:read", "enrollment:read", "freshness:read"],
                   help="repeatable (default: kpi:read)")
    t.add_argument("--region", action="append", help="a region whose rows it reads (repeatable; '*': every region)")
    t.add_argument("--ttl", type=int, default=3600, help="seconds it is valid (default 3600)")
    t.add_argument("--subject", default="dev", help="its sub claim: the caller's name (default dev)")
    g = actions.add_parser("gateway", help="write the API Gateway HTTP API and stage (use --config emr)")
    g.add_argument("--output", default="conf/api", help="default conf/api")
    p = actions.add_parser("package", help="build the Lambda zip of the API (handler lakehouse.api.handler.handler)")
    p.add_argument("--output", default="dist/lakehouse-api.zip", help="default dist/lakehouse-api.zip")
    a.set_defaults(func=cmd_api)
