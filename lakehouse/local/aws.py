"""The local stand-in for AWS: a moto server on 127.0.0.1, started by the project itself.

Kinesis, Glue, KMS, Secrets Manager and S3 APIs answer on one loopback port. `start()` runs it in
a thread of this process (tests, one-process demos); `lakehouse aws start` runs it as a detached
process and writes `<root>/_aws/endpoint.json`, so several commands share one stream until
`lakehouse aws stop`. moto keeps everything in memory: a restarted stand-in is a new, empty AWS
(a lake on its S3 goes with it). The state file lives in the storage's local folder
(`storage.local_dir`), since the root may be the stand-in's own S3.
Its Kinesis shards are patched to cost what Kinesis' do (`moto_kinesis`).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import SourceError
from lakehouse.local import moto_kinesis


@dataclass
class LocalAws:
    url: str
    pid: int | None = None
    _server: object | None = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # type: ignore[attr-defined]
            self._server = None


def require_patched_moto() -> None:
    """Refuse another moto than the one `moto_kinesis` is written for, before patching anything.

    Raises:
        SourceError: The installed moto is another release; the message names both versions.
    """
    import moto

    if moto.__version__ != moto_kinesis.MOTO_VERSION:
        raise SourceError(
            f"moto {moto.__version__} is installed, but the local AWS stand-in patches the Kinesis shards of "
            f"moto {moto_kinesis.MOTO_VERSION} (lakehouse/local/moto_kinesis.py): "
            f"pip install 'moto[server]=={moto_kinesis.MOTO_VERSION}'"
        )


def start() -> LocalAws:
    """A moto server in a thread of this process, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    require_patched_moto()
    moto_kinesis.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return LocalAws(f"http://{host}:{port}", os.getpid(), server)


def _state_file(local_dir: str) -> Path:
    return Path(local_dir) / "_aws" / "endpoint.json"


def _alive(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def running(local_dir: str) -> LocalAws | None:
    """The detached stand-in whose state is in `local_dir`, if it is up."""
    state = _state_file(local_dir)
    if not state.exists():
        return None
    info = json.loads(state.read_text())
    return LocalAws(info["url"], info["pid"]) if _alive(info["url"]) else None


def start_detached(local_dir: str) -> LocalAws:
    """Start (or find) the detached stand-in whose state is in `local_dir`."""
    found = running(local_dir)
    if found:
        return found
    require_patched_moto()  # here too, so the error reaches the user and not only moto.log
    port = _free_port()
    state = _state_file(local_dir)
    state.parent.mkdir(parents=True, exist_ok=True)
    log = open(state.parent / "moto.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.local.aws", str(port)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not _alive(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SourceError(f"the local AWS stand-in did not start (see {state.parent / 'moto.log'})")
        time.sleep(0.2)
    state.write_text(json.dumps({"url": url, "pid": proc.pid}))
    return LocalAws(url, proc.pid)


def stop_detached(local_dir: str) -> bool:
    found = running(local_dir)
    state = _state_file(local_dir)
    if state.exists():
        state.unlink()
    if not found or not found.pid:
        return False
    try:
        os.killpg(found.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


LOCAL_KEY_ALIAS = "alias/lakehouse-local"


def local_kms_key(url: str, region: str) -> str:
    """The ARN of the stand-in's KMS key for the lake (alias `alias/lakehouse-local`), created once."""
    import boto3

    kms = boto3.client("kms", region_name=region, endpoint_url=url, aws_access_key_id="local",
                       aws_secret_access_key="local")
    for alias in kms.list_aliases()["Aliases"]:
        if alias["AliasName"] == LOCAL_KEY_ALIAS and alias.get("TargetKeyId"):
            return str(kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"])
    key = kms.create_key(Description="lakehouse: SSE-KMS for the local lake")["KeyMetadata"]
    kms.create_alias(AliasName=LOCAL_KEY_ALIAS, TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int) -> None:
    """Run the stand-in in this (detached) process on `port` until SIGTERM."""
    from moto.server import ThreadedMotoServer

    require_patched_moto()
    moto_kinesis.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    def shutdown(*_: object) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        _serve(int(sys.argv[1]))
    except SourceError as err:
        sys.exit(f"lakehouse.local.aws: {err}")  # one line in moto.log, not a stack trace
