"""uvicorn's httptools protocol with limits against broken and hostile clients.

A request head may hold HTTP_MAX_HEADER_BYTES bytes and HTTP_MAX_HEADERS headers (else 431) and
must be complete HTTP_HEADER_TIMEOUT_S after the connection opens or the request begins (else
408; a connection that never sent a byte is just closed); a body must progress at least every
HTTP_BODY_TIMEOUT_S (else 408, or closed once answered). Rejections close the connection.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import TimerHandle
from dataclasses import dataclass
from functools import lru_cache

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from backend.core.config import Settings, get_settings

log = logging.getLogger("oddsdesk.http")

PROBLEM_BASE = "https://oddsdesk.dev/problems/"
LINGER_S = 1.0  # how long a rejected connection drains the client's bytes before it closes
_PROBLEMS = {
    408: ("request-timeout", "Request timeout"),
    431: ("request-header-fields-too-large", "Request header fields too large"),
}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_header_bytes: int = 16_384
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            max_headers=settings.http_max_headers,
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
        )


@lru_cache(maxsize=1)
def _default_limits() -> HttpLimits:
    return HttpLimits.from_settings(get_settings())


class _Rejected(Exception):
    """Raised from a parser callback to stop parsing; data_received answers `status`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.status, self.detail = status, detail


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with header size/count limits and header and body timeouts."""

    limits: HttpLimits
    _awaiting_head = True  # no complete head since the last request (or ever)
    _head_bytes = 0  # request line and complete headers of the current head
    _head_raw = 0  # bytes of reads made only of the current, still partial head
    _head_count = 0
    _head_seen = False  # a byte of the current head has arrived
    _boundaries = 0  # heads and messages completed (to tell what a read held)
    _head_timer: TimerHandle | None = None
    _body_timer: TimerHandle | None = None
    _linger_timer: TimerHandle | None = None
    _rejected = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Set by backend.core.http_server (it travels with the config to worker processes);
        # else, e.g. under `uvicorn --http backend.core.http_protocol:...`, from the settings.
        limits = getattr(self.config, "http_limits", None)
        self.limits = limits if isinstance(limits, HttpLimits) else _default_limits()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected or self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        in_head, boundaries = self._awaiting_head, self._boundaries
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Rejected):
                self._reject(exc.__context__.status, exc.__context__.detail)
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._cancel_timers()
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if in_head and boundaries == self._boundaries:
            # A read made only of the partial head (or of stray bytes between requests): it
            # counts whole, since httptools buffers a partial header unseen by on_header.
            self._head_seen = True
            self._arm_head_timer()
            self._head_raw += len(data)
            try:
                self._check_head_size(self._head_raw)
            except _Rejected as exc:
                self._reject(exc.status, exc.detail)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_count = 0
        self._head_seen = True
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        self._check_head_size(self._head_bytes)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        if self._head_count > self.limits.max_headers:
            raise _Rejected(431, f"more than {self.limits.max_headers} request headers")
        self._head_bytes += len(name) + len(value) + 4
        self._check_head_size(self._head_bytes)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._boundaries += 1
        self._awaiting_head = self._head_seen = False
        self._head_raw = 0
        self._cancel(self._head_timer)
        self._head_timer = None
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        self._arm_body_timer()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._boundaries += 1
        self._awaiting_head = True
        self._cancel(self._body_timer)
        self._body_timer = None
        super().on_message_complete()

    def _check_head_size(self, size: int) -> None:
        if size > self.limits.max_header_bytes:
            detail = f"the request head exceeds {self.limits.max_header_bytes} bytes"
            raise _Rejected(431, detail)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self._rejected:
            timeout = self.limits.header_timeout_s
            self._head_timer = self.loop.call_later(timeout, self._head_timeout)

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        timeout = self.limits.body_timeout_s
        self._body_timer = self.loop.call_later(timeout, self._body_timeout)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # answer the request in flight, then close
        elif self._head_seen:
            self._reject(408, f"the request head took over {self.limits.header_timeout_s} s")
        else:
            self._close()  # never sent a byte: nothing to answer

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue):
            self._arm_body_timer()  # the app, not the client, is the one holding the body
            return
        if cycle is not None and not cycle.response_started:
            self._reject(408, f"no request body received for {self.limits.body_timeout_s} s")
        else:
            self._close()

    def _reject(self, status: int, detail: str) -> None:
        slug, title = _PROBLEMS[status]
        log.warning("rejected a request: %s", detail, extra={"client": self.client})
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            # (Not while a pipelined request's response is being written: just close.)
            problem = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
            body = orjson.dumps({**problem, "detail": detail})
            head = b"".join(n + b": " + v + b"\r\n" for n, v in self.server_state.default_headers)
            self.transport.write(
                STATUS_LINE[status]
                + head
                + b"content-type: application/problem+json\r\ncontent-length: %d\r\n" % len(body)
                + b"connection: close\r\n\r\n"
                + body
            )
        self._close()

    def _close(self) -> None:
        self._rejected = True
        self._cancel_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            # The app must not write after this answer: it sees a disconnect from now on.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # A lingering close: send FIN after the answer, and read (and drop) what the client
        # still sends for a moment; closing on unread data would send a RST that can destroy
        # the answer before the client reads it. The client's own close ends it sooner.
        self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_S, self.transport.close)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._linger_timer):
            self._cancel(timer)
        self._head_timer = self._body_timer = self._linger_timer = None

    @staticmethod
    def _cancel(timer: TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
