"""A real HTTP receiver for webhook tests: a `http.server` thread on 127.0.0.1 that records
every request, verifies its Standard Webhooks signature with the `standardwebhooks` library,
and answers 500 to the first `fail_first` requests (or to all of them with `always_fail`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool
    status: int


@dataclass
class Receiver:
    url: str = ""
    secret: str | None = None  # set once the endpoint is created
    fail_first: int = 0
    always_fail: bool = False
    delay_s: float = 0.0  # how long each answer takes
    # Called with the number of requests so far, before the answer is sent.
    on_request: Callable[[int], None] | None = None
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], raw: bytes) -> int:
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(raw, headers)
                verified = True
            except Exception:
                verified = False
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            failing = self.always_fail or len(self.requests) < self.fail_first
            status = 500 if failing else 204
            self.requests.append(Received(headers, json.loads(raw), verified, status))
            count = len(self.requests)
        if self.on_request is not None:
            self.on_request(count)
        return status

    @property
    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.status < 300]


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    state = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.answer({k.lower(): v for k, v in self.headers.items()}, raw)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
