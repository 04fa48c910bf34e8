"""`lakehouse serve` and `lakehouse api token` as a user runs them (README, "API"): a lake's gold
exported, the API started on its embedded PostgreSQL, a token issued, and a request answered."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from month_lake import Month
from pyspark.sql import SparkSession

from lakehouse import app
from lakehouse.config import load_config

pytestmark = pytest.mark.slow


def _cli(root: str, *args: str, **kwargs) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "lakehouse.cli", "--root", root, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def test_serve_answers_a_request_with_a_token_from_the_cli(spark: SparkSession, month: Month, tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    subprocess.run(["cp", "-a", month.root, root], check=True)
    config = load_config("local", {"storage.root": root})
    app.run_export(spark, config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = _cli(root, "serve", "--port", str(port), "--timeout", "120")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "lakehouse serve did not come up"
            time.sleep(0.2)
        issued = subprocess.run([sys.executable, "-m", "lakehouse.cli", "--root", root, "api", "token",
                                 "--scope", "kpi:read", "--region", "*", "--ttl", "60"],
                                capture_output=True, text=True, timeout=60)
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()
        assert token.count(".") == 2
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/offices", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"]
        assert httpx.get(f"http://127.0.0.1:{port}/v1/offices").status_code == 401
        # a token for no region is refused by the CLI itself, in one line
        refused = subprocess.run([sys.executable, "-m", "lakehouse.cli", "--root", root, "api", "token"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "--region" in refused.stderr
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert "serving gold from PostgreSQL schema gold" in out
    assert token not in out, "the server's log must not hold a token"
