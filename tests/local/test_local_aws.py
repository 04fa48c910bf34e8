"""The local AWS stand-in refuses a moto other than the one its Kinesis patch is written for."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import moto
import moto.server
import pytest

from lakehouse.errors import SourceError
from lakehouse.local import aws, moto_kinesis

OTHER = "5.3.0"
MISMATCH = rf"^moto {OTHER} is installed, but .* moto {moto_kinesis.MOTO_VERSION} .*=={moto_kinesis.MOTO_VERSION}'$"


@pytest.fixture
def other_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto claims another release; installing the patch or starting a server fails the test."""
    monkeypatch.setattr(moto, "__version__", OTHER)

    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("patched or started on the wrong moto")

    monkeypatch.setattr(moto_kinesis, "install", forbidden)
    monkeypatch.setattr(moto.server, "ThreadedMotoServer", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)


def test_the_installed_moto_is_the_one_the_patch_is_written_for() -> None:
    assert moto.__version__ == moto_kinesis.MOTO_VERSION
    aws.require_patched_moto()


def test_the_package_pins_that_moto() -> None:
    requirements = importlib.metadata.requires("lakehouse") or []
    pins = [r for r in requirements if r.replace(" ", "").startswith("moto[server]")]
    assert pins and all(f"=={moto_kinesis.MOTO_VERSION}" in r.replace(" ", "") for r in pins), pins


def test_start_refuses_another_moto_in_one_line(other_moto: None) -> None:
    with pytest.raises(SourceError, match=MISMATCH):
        aws.start()


def test_the_detached_stand_in_refuses_it_before_spawning(other_moto: None, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=MISMATCH):
        aws.start_detached(str(tmp_path))


def test_serve_refuses_it(other_moto: None) -> None:
    with pytest.raises(SourceError, match=MISMATCH):
        aws._serve(0)


def test_the_detached_process_says_so_in_one_line() -> None:
    # What `python -m lakehouse.local.aws PORT` leaves in moto.log when moto is another release.
    # No server class in the child: were the check missing, it would fail at once instead of serving.
    code = ("import moto, moto.server, runpy, sys; moto.__version__ = sys.argv[1]; "
            "moto.server.ThreadedMotoServer = None; sys.argv = ['aws', '0']; "
            "runpy.run_module('lakehouse.local.aws', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, OTHER], capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"lakehouse.local.aws: moto {OTHER} is installed")
    assert moto_kinesis.MOTO_VERSION in lines[0]
