"""The ECS/Fargate image (`conf/api/Dockerfile`): what it would run is the CLI's serve command as
the wheel installs it, on the port it exposes and checks, as a user that is not root, and that
command's imports need no Spark (the image installs the wheel's runtime requirements only).

No Docker here: the file is read instruction by instruction and its parts are checked against the
project (the CLI's own parser, setup.py's version, an interpreter that cannot import Spark)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from lakehouse import cli

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "conf" / "api" / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _one(name: str) -> str:
    found = [args for instruction, args in _instructions() if instruction == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def test_the_image_runs_the_cli_serve_command_on_the_port_it_exposes_and_checks() -> None:
    entrypoint = json.loads(_one("ENTRYPOINT"))  # exec form: the server is PID 1 and gets SIGTERM
    assert entrypoint[0] == "lakehouse"
    args = cli.parser().parse_args(entrypoint[1:])
    assert args.command == "serve" and args.config == "emr" and args.host == "0.0.0.0"
    assert _one("EXPOSE") == str(args.port)
    health = json.loads(_one("HEALTHCHECK").split("CMD", 1)[1])
    assert f"http://127.0.0.1:{args.port}/healthz" in health[-1]


def test_the_image_installs_the_wheel_make_wheel_builds_and_runs_as_a_user() -> None:
    version = re.search(r'version="([^"]+)"', (ROOT / "setup.py").read_text(encoding="utf-8")).group(1)
    wheel = f"dist/lakehouse-{version}-py3-none-any.whl"
    assert _one("COPY").split()[0] == wheel
    assert f"pip install --no-cache-dir /tmp/{Path(wheel).name}" in _one("RUN")
    assert _one("USER") not in ("root", "0")
    assert _one("FROM").startswith("public.ecr.aws/docker/library/python:3.11-")  # setup.py's python_requires


def test_the_serve_command_imports_no_spark() -> None:
    # an interpreter where importing Spark, Delta or the one-machine stand-ins fails outright
    check = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pyspark", "delta", "py4j") or name.startswith("lakehouse.local"):
            raise ImportError(f"the image has no {name}")
sys.meta_path.insert(0, Refuse())
import uvicorn, lakehouse.cli, lakehouse.cli_api, lakehouse.api.service, lakehouse.api.app
args = lakehouse.cli.parser().parse_args(["--config", "emr", "serve"])
from lakehouse.config import load_config
print(args.func.__name__, load_config("emr").export.mode)
"""
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["cmd_serve", "jdbc"]
