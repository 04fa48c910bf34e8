"""A fault-injecting HTTP proxy on loopback, between S3A and the moto server's S3.

Real S3 throttles (`503 SlowDown`), drops connections and, now and then, answers nothing at all;
moto does none of it. `FaultyS3Proxy` forwards each HTTP/1.1 request to moto and, on a seeded
schedule, answers some in the ways S3 fails instead:

- `slowdown`: a `503 SlowDown` with S3's XML error body, the request not forwarded (as S3 does: a
  throttled request is not performed);
- `reset_before`: the connection reset (RST) before the request reaches moto;
- `reset_after`: the request performed by moto, then the connection reset instead of its answer,
  so the client retries something that already happened (a PUT, a DELETE, a commit file);
- `stall`: the request performed, its answer held back until the client gives up (its socket
  timeout), then the connection closed.

toxiproxy (Shopify's, buildable from the Go module proxy) works a level lower, on TCP streams: it
can reset or stall a connection but cannot answer one request of a kept-alive connection with an
HTTP 503, which is S3's commonest fault. So the proxy is this module's own: it parses requests
just enough to find their ends (Content-Length or chunked bodies) and relays answers whole.

Faults are drawn per request from `random.Random(seed)`; `counts` tells how many of each kind were
injected and how many requests passed, so a test can check the run was really faulty.
"""
from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

KINDS = ("slowdown", "reset_before", "reset_after", "stall")
SLOWDOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                 b"<Message>Please reduce your request rate.</Message><RequestId>FAULTY</RequestId></Error>")


@dataclass(frozen=True)
class S3Faults:
    """The share of requests answered with each fault (0 = never), and how long a stall lasts."""

    slowdown: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    stall: float = 0.0
    stall_seconds: float = 10.0
    seed: int = 0


class FaultyS3Proxy:
    """Listens on 127.0.0.1 (a free port) and relays to `upstream` ("host:port"), injecting `faults`.

    Args:
        upstream: moto's address, "127.0.0.1:<port>".
        faults: what to inject.
    """

    def __init__(self, upstream: str, faults: S3Faults) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.faults = faults
        self.counts: Counter[str] = Counter()
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, name="faulty-s3-accept", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _draw(self) -> str | None:
        with self._lock:
            roll = self._random.random()
            for kind in KINDS:
                roll -= getattr(self.faults, kind)
                if roll < 0:
                    self.counts[kind] += 1
                    return kind
            self.counts["passed"] += 1
            return None

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="faulty-s3-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        upstream = http.client.HTTPConnection(*self.upstream, timeout=120)
        reader = conn.makefile("rb")
        try:
            while not self._stopped.is_set():
                request = _read_request(reader, conn)
                if request is None:
                    return
                fault = self._draw()
                if fault == "slowdown":
                    conn.sendall(_slowdown(request.keep_alive))
                    if not request.keep_alive:
                        return
                    continue
                if fault == "reset_before":
                    return _reset(conn)
                answer = _forward(upstream, request)
                if fault == "reset_after":
                    return _reset(conn)
                if fault == "stall":
                    conn.settimeout(self.faults.stall_seconds)
                    try:  # until the client closes (its timeout) or the stall is over
                        conn.recv(1)
                    except OSError:
                        pass
                    return
                conn.sendall(answer)
                if not request.keep_alive:
                    return
        except (OSError, http.client.HTTPException, ValueError):
            return
        finally:
            upstream.close()
            reader.close()
            conn.close()


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return not any(k.lower() == "connection" and v.lower() == "close" for k, v in self.headers)


def _read_request(reader, conn: socket.socket) -> _Request | None:  # type: ignore[no-untyped-def]
    """One request off the client's connection; None when the client closed it. A client that
    waits for `100 Continue` before sending its body (the AWS SDK's PUTs) is told to go on."""
    line = reader.readline()
    while line in (b"\r\n", b"\n"):
        line = reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while (raw := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, value = raw.decode("latin-1").split(":", 1)
        headers.append((name.strip(), value.strip()))
    fields = {k.lower(): v for k, v in headers}
    if fields.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        headers = [(k, v) for k, v in headers if k.lower() != "expect"]
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = _read_chunked(reader)
        headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        headers.append(("Content-Length", str(len(body))))
    else:
        body = reader.read(int(fields.get("content-length", "0")))
    return _Request(method, target, headers, body)


def _read_chunked(reader) -> bytes:  # type: ignore[no-untyped-def]
    parts = []
    while True:
        size = int(reader.readline().split(b";", 1)[0].strip(), 16)
        if size == 0:
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        parts.append(reader.read(size))
        reader.readline()


def _forward(upstream: http.client.HTTPConnection, request: _Request) -> bytes:
    """Send the request to moto; its answer as bytes to relay (the body whole, with its length)."""
    upstream.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
    for name, value in request.headers:
        if name.lower() != "connection":
            upstream.putheader(name, value)
    upstream.endheaders(request.body or None)
    response = upstream.getresponse()
    body = response.read()
    head = [f"HTTP/1.1 {response.status} {response.reason}"]
    for name, value in response.getheaders():
        if name.lower() not in ("transfer-encoding", "connection", "content-length"):
            head.append(f"{name}: {value}")
    if request.method.upper() == "HEAD":
        head.append(f"Content-Length: {response.getheader('Content-Length', '0')}")
        body = b""
    else:
        head.append(f"Content-Length: {len(body)}")
    head.append("Connection: keep-alive" if request.keep_alive else "Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _slowdown(keep_alive: bool) -> bytes:
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    head = ["HTTP/1.1 503 Slow Down", "Content-Type: application/xml",
            f"Content-Length: {len(SLOWDOWN_BODY)}", f"Date: {date}",
            "x-amz-request-id: FAULTY", "Connection: keep-alive" if keep_alive else "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + SLOWDOWN_BODY


def _reset(conn: socket.socket) -> None:
    """Close with an RST, as a dropped connection looks to the client."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
