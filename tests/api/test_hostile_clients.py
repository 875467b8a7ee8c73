"""Hostile and broken clients against the real server (`serve --serve-only` in a subprocess).

Raw sockets on 127.0.0.1, each with a timeout: oversized and too many headers get 431, a head
or body that stalls gets 408 and a close, idle sockets are closed, connections beyond the limit
get 503, and malformed requests get a 4xx or a close, never a 5xx nor a hang. Afterwards the
server still answers and its memory stayed bounded.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.conftest import ADMIN_KEY
from tests.helpers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
KEEPALIVE_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 50
SLACK_S = 1.5
MAX_RSS_MB = 300
LIVE = b"GET /health/live HTTP/1.1\r\nHost: t\r\n"


@dataclass
class Server:
    port: int
    pid: int
    log: Path
    rss_start_mb: float = 0.0
    figures: dict[str, float] = field(default_factory=dict)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match, status
        return int(match.group(1)) / 1024


@dataclass
class Reply:
    data: bytes
    closed: bool  # the server closed the connection (FIN or RST)
    elapsed_s: float

    @property
    def status(self) -> int | None:
        match = re.match(rb"HTTP/1\.[01] (\d{3}) ", self.data)
        return int(match.group(1)) if match else None

    @property
    def head(self) -> str:
        return self.data.partition(b"\r\n\r\n")[0].decode("latin-1").lower()

    @property
    def body(self) -> bytes:
        return self.data.partition(b"\r\n\r\n")[2]

    def complete(self) -> bool:
        """A whole response (with a Content-Length body) has arrived."""
        head, sep, body = self.data.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        return length is not None and len(body) >= int(length.group(1))


def send(sock: socket.socket, data: bytes) -> bool:
    """Send; False when the server has already closed (it may reject before reading all)."""
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def read(sock: socket.socket, limit_s: float, until_response: bool = False) -> Reply:
    """What the server sends until it closes, `limit_s` passes, or (if asked) a response ends."""
    start = time.monotonic()
    data = b""
    while True:
        remaining = limit_s - (time.monotonic() - start)
        if remaining <= 0:
            return Reply(data, False, time.monotonic() - start)
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return Reply(data, False, time.monotonic() - start)
        except ConnectionError:
            return Reply(data, True, time.monotonic() - start)
        if not chunk:
            return Reply(data, True, time.monotonic() - start)
        data += chunk
        if until_response and Reply(data, False, 0).complete():
            return Reply(data, False, time.monotonic() - start)


def exchange(server: Server, request: bytes, limit_s: float = 5.0) -> Reply:
    with server.connect() as sock:
        send(sock, request)
        return read(sock, limit_s, until_response=True)


def assert_problem(reply: Reply, status: int) -> None:
    assert reply.status == status, reply.data[:300]
    assert "content-type: application/problem+json" in reply.head
    assert "connection: close" in reply.head
    problem = json.loads(reply.body)
    assert problem["status"] == status
    assert problem["type"].startswith("https://")
    assert problem["title"]
    assert problem["detail"]


def wait_live(server: Server, proc: subprocess.Popen[bytes], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited ({proc.returncode}):\n{server.log.read_text()}")
        try:
            if exchange(server, LIVE + b"\r\n", 2.0).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not come up:\n{server.log.read_text()}")


@pytest.fixture(scope="module")
def server(database_url: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "ADMIN_API_KEY": ADMIN_KEY,
        "CURSOR_SECRET": os.environ.get("CURSOR_SECRET") or secrets.token_urlsafe(32),
        "APP_ENV": "test",
        "DB_POOL_SIZE": "2",
        "LOG_LEVEL": "WARNING",
        "HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "HTTP_KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_TIMEOUT_S),
        "HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "WORKER_WITH_SERVER": "false",  # the server alone: its memory is what is measured
    }
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    command = [sys.executable, "-m", "backend.scripts.serve", "--serve-only", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        running = Server(port, proc.pid, log)
        wait_live(running, proc)
        running.rss_start_mb = running.rss_mb()
        yield running
        print(f"\nhostile-client figures: {running.figures}")
    finally:
        proc.terminate()  # only the process started here, by its handle
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


# -- header size and count: 431 -------------------------------------------------------------

FEW_LONG_HEADERS = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 200) for i in range(90))  # 18 KiB


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(LIVE + b"X-Big: " + b"a" * 65_536 + b"\r\n\r\n", id="one-64KiB-header"),
        pytest.param(LIVE + b"X-Big: " + b"a" * 65_536, id="one-64KiB-header-unfinished"),
        pytest.param(b"GET /" + b"a" * 65_536 + b" HTTP/1.1\r\nHost: t\r\n\r\n", id="64KiB-url"),
        pytest.param(LIVE + b"X-" + b"n" * 65_536 + b": v\r\n\r\n", id="64KiB-header-name"),
        pytest.param(LIVE + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", id="101"),
        pytest.param(LIVE + b"X: y\r\n" * 20_000 + b"\r\n", id="flood-of-small-headers"),
        pytest.param(LIVE + FEW_LONG_HEADERS + b"\r\n", id="90-headers-of-200-bytes"),
        pytest.param(LIVE + FEW_LONG_HEADERS, id="90-headers-of-200-bytes-unfinished"),
    ],
)
def test_oversized_heads_get_431_and_are_closed(server: Server, request_bytes: bytes) -> None:
    with server.connect() as sock:
        send(sock, request_bytes)
        reply = read(sock, 5.0)
    assert_problem(reply, 431)
    assert reply.closed
    server.figures.setdefault("431_max_s", 0.0)
    server.figures["431_max_s"] = max(server.figures["431_max_s"], round(reply.elapsed_s, 3))


def test_exactly_the_header_limit_is_served(server: Server) -> None:
    head = LIVE + b"".join(b"X-%d: v\r\n" % i for i in range(99))  # 100 with Host
    assert exchange(server, head + b"\r\n").status == 200
    big = LIVE + b"X-Big: " + b"a" * 15_000 + b"\r\n\r\n"  # under 16 KiB in all
    assert exchange(server, big).status == 200


def test_pipelined_requests_are_all_served(server: Server) -> None:
    with server.connect() as sock:
        send(sock, (LIVE + b"\r\n") * 3)
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"HTTP/1.1 200 ") < 3 and time.monotonic() < deadline:
            data += read(sock, 0.5, until_response=True).data
    assert data.count(b"HTTP/1.1 200 ") == 3, data


# -- timeouts: 408 and closes ----------------------------------------------------------------


def _slowloris(sock: socket.socket, limit_s: float) -> Reply:
    """One byte every 0.3 s of a head that never ends, until the server answers or closes."""
    start = time.monotonic()
    trickle = iter(LIVE + b"X-Slow: " + b"z" * 10_000)
    while time.monotonic() - start < limit_s:
        if not send(sock, bytes([next(trickle)])):
            return Reply(b"", True, time.monotonic() - start)
        reply = read(sock, 0.3)
        if reply.data or reply.closed:
            rest = read(sock, 2.0) if not reply.closed else Reply(b"", True, 0)
            return Reply(reply.data + rest.data, True, time.monotonic() - start)
    return Reply(b"", False, time.monotonic() - start)


def test_slowloris_gets_408_within_the_header_timeout(server: Server) -> None:
    with server.connect() as sock:
        reply = _slowloris(sock, HEADER_TIMEOUT_S + SLACK_S + 2)
    assert reply.closed, "the server let a never-ending head trickle in"
    assert_problem(reply, 408)
    assert HEADER_TIMEOUT_S - 0.2 <= reply.elapsed_s <= HEADER_TIMEOUT_S + SLACK_S
    server.figures["slowloris_408_s"] = round(reply.elapsed_s, 3)


def test_slowloris_on_a_kept_alive_connection_gets_408(server: Server) -> None:
    with server.connect() as sock:
        send(sock, LIVE + b"\r\n")
        assert read(sock, 5.0, until_response=True).status == 200
        reply = _slowloris(sock, HEADER_TIMEOUT_S + SLACK_S + 2)
    assert reply.closed
    assert_problem(reply, 408)
    assert reply.elapsed_s <= HEADER_TIMEOUT_S + SLACK_S


def test_an_idle_socket_is_closed(server: Server) -> None:
    with server.connect() as sock:
        reply = read(sock, HEADER_TIMEOUT_S + SLACK_S + 2)
    assert reply.closed, "a socket that never sent a byte stayed open"
    assert reply.data == b"" or reply.status == 408
    assert reply.elapsed_s <= HEADER_TIMEOUT_S + SLACK_S
    server.figures["idle_close_s"] = round(reply.elapsed_s, 3)


def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    with server.connect() as sock:
        send(sock, LIVE + b"\r\n")
        first = read(sock, 5.0, until_response=True)
        assert first.status == 200
        assert not first.closed
        reply = read(sock, KEEPALIVE_TIMEOUT_S + SLACK_S + 2)
    assert reply.closed
    assert reply.data == b""
    assert reply.elapsed_s <= KEEPALIVE_TIMEOUT_S + SLACK_S
    server.figures["keepalive_close_s"] = round(reply.elapsed_s, 3)


def _post_teams(length: int) -> bytes:
    return (
        b"POST /v1/teams HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + ADMIN_KEY.encode() + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def test_a_stalled_body_gets_408_and_is_closed(server: Server) -> None:
    with server.connect() as sock:
        send(sock, _post_teams(20) + b'{"nam')
        reply = read(sock, BODY_TIMEOUT_S + SLACK_S + 2)
    assert reply.closed
    assert_problem(reply, 408)
    assert BODY_TIMEOUT_S - 0.2 <= reply.elapsed_s <= BODY_TIMEOUT_S + SLACK_S
    server.figures["stalled_body_408_s"] = round(reply.elapsed_s, 3)


def test_a_slow_but_steady_body_is_served(server: Server) -> None:
    body = b'{"name": 1}     '  # invalid: a 422 once the whole body is read
    with server.connect() as sock:
        send(sock, _post_teams(len(body)))
        for byte in body:  # 16 bytes, 0.15 s apart: longer than the body timeout in all
            assert send(sock, bytes([byte]))
            time.sleep(0.15)
        reply = read(sock, 5.0, until_response=True)
    assert reply.status == 422, reply.data[:300]


# -- connection limit: 503 -------------------------------------------------------------------


def test_connections_beyond_the_limit_get_503(server: Server) -> None:
    held = [server.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)  # accepted by now; well within the 1 s header timeout
        reply = exchange(server, LIVE + b"\r\n")
        assert reply.status == 503, reply.data[:300]
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    status = None
    while time.monotonic() < deadline:
        status = exchange(server, LIVE + b"\r\n").status
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200


# -- malformed requests: 4xx or closed, never 5xx nor a hang --------------------------------

MALFORMED = {
    "control-byte-in-name": LIVE + b"X-B\x01d: v\r\n\r\n",
    "separator-in-name": LIVE + b"X(y): v\r\n\r\n",
    "high-byte-in-name": LIVE + b"X-\xff\xfe: v\r\n\r\n",
    "nul-in-value": LIVE + b"X-A: a\x00b\r\n\r\n",
    "control-byte-in-value": LIVE + b"X-A: a\x01b\r\n\r\n",
    "del-in-value": LIVE + b"X-A: a\x7fb\r\n\r\n",
    "bare-cr-in-value": LIVE + b"X-A: a\rb\r\n\r\n",
    "arabic-digit-content-length": b"POST /v1/teams HTTP/1.1\r\nHost: t\r\n"
    + "Content-Length: \u0663\r\n\r\nabc".encode(),
    "fullwidth-digit-content-length": b"POST /v1/teams HTTP/1.1\r\nHost: t\r\n"
    + "Content-Length: \uff11\uff10\r\n\r\n0123456789".encode(),
    "negative-content-length": b"POST /v1/teams HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    "two-content-lengths": b"POST /v1/teams HTTP/1.1\r\nHost: t\r\n"
    b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "content-length-and-chunked": b"POST /v1/teams HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad-chunk-size": b"POST /v1/teams HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\n",
    "space-before-colon": b"GET /health/live HTTP/1.1\r\nHost : t\r\n\r\n",
    "tab-before-colon": b"GET /health/live HTTP/1.1\r\nHost\t: t\r\n\r\n",
    "no-colon": LIVE + b"JustAName\r\n\r\n",
    "garbage-request-line": b"GARBAGE\r\n\r\n",
    "method-only": b"GET\r\n\r\n",
    "bad-version": b"GET /health/live HTTP/9.9\r\nHost: t\r\n\r\n",
    "nul-in-url": b"GET /health\x00/live HTTP/1.1\r\nHost: t\r\n\r\n",
    "space-in-url": b"GET /health /live HTTP/1.1\r\nHost: t\r\n\r\n",
    "tls-client-hello": bytes.fromhex("16030100a5010000a10303") + os.urandom(64),
    "binary-noise": bytes(range(256)) * 4,
}

# Unusual but legal bytes: any answer short of a 5xx (obs-text values are allowed by RFC 9110).
ODD_BUT_LEGAL = {
    "obs-text-in-value": LIVE + b"X-A: caf\xe9 \x80\xff\r\n\r\n",
    "utf8-in-value": LIVE + "X-A: \u00e9\u4e2d\U0001f600\r\n\r\n".encode(),
    "empty-value": LIVE + b"X-A:\r\n\r\n",
    "obs-fold": LIVE + b"X-A: a\r\n b\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_get_4xx_or_a_close(server: Server, request_bytes: bytes) -> None:
    reply = exchange(server, request_bytes, limit_s=HEADER_TIMEOUT_S + SLACK_S + 2)
    assert reply.status is not None or reply.closed, "no answer and no close: a hang"
    assert reply.status is None or 400 <= reply.status < 500, reply.data[:300]


@pytest.mark.parametrize("request_bytes", ODD_BUT_LEGAL.values(), ids=ODD_BUT_LEGAL.keys())
def test_odd_but_legal_requests_never_get_5xx(server: Server, request_bytes: bytes) -> None:
    reply = exchange(server, request_bytes, limit_s=HEADER_TIMEOUT_S + SLACK_S + 2)
    assert reply.status is not None or reply.closed, "no answer and no close: a hang"
    assert reply.status is None or reply.status < 500, reply.data[:300]


# -- afterwards ------------------------------------------------------------------------------


def test_the_server_survives_with_bounded_memory(server: Server) -> None:
    # One more round of the worst of it, concurrently: 40 sockets each with a 64 KiB head.
    socks = [server.connect() for _ in range(40)]
    try:
        for sock in socks:
            send(sock, LIVE + b"X-Big: " + b"a" * 65_536 + b"\r\n\r\n")
        assert all(read(sock, 5.0).status == 431 for sock in socks)
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.2)
    assert exchange(server, LIVE + b"\r\n").status == 200
    rss = server.rss_mb()
    server.figures["rss_start_mb"] = round(server.rss_start_mb, 1)
    server.figures["rss_end_mb"] = round(rss, 1)
    assert rss < MAX_RSS_MB, f"RSS {rss:.0f} MB"
