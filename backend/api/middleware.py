"""Pure ASGI middleware: request ids, body size limits, and one log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.problems import ApiProblem, problem_response
from backend.core.logging import request_id_var, tenant_id_var
from backend.core.metrics import HTTP_DURATION, HTTP_REQUESTS

log = logging.getLogger("oddsdesk.access")

DEFAULT_BODY_LIMIT = 1 << 20  # 1 MiB
# Paths with a larger body limit (method, path) -> bytes.
BODY_LIMITS = {("POST", "/v1/odds/batch"): 64 << 20}

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def body_limit_for(method: str, path: str) -> int:
    return BODY_LIMITS.get((method, path), DEFAULT_BODY_LIMIT)


def _too_large(limit: int) -> ApiProblem:
    return ApiProblem(413, f"request body exceeds the limit of {limit} bytes")


class RequestContextMiddleware:
    """Outermost app middleware: request id in and out, body limits, access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        rid_token = request_id_var.set(request_id)
        tenant_token = tenant_id_var.set(None)
        status_holder = [500]
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append(rid_header)
                limits = state.get("rate_limit_headers")  # set by authentication
                if limits is not None:
                    present = {h[0].lower() for h in headers}
                    headers.extend(
                        (k.lower().encode(), v.encode())
                        for k, v in limits.items()
                        if k.lower().encode() not in present
                    )
                message["headers"] = headers
            await send(message)

        try:
            limit = body_limit_for(scope["method"], scope["path"])
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                # Answer at once; the rest of the body is never read.
                exc = _too_large(limit)
                response = problem_response(scope, 413, exc.code, exc.title, exc.detail)
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, _limited(receive, limit), send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            duration_ms = elapsed * 1000
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            _observe(scope["method"], route, status_holder[0], elapsed)
            if log.isEnabledFor(logging.INFO):  # no record built when nobody reads it
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status_holder[0],
                        "duration_ms": round(duration_ms, 2),
                        "request_id": request_id,
                        "tenant_id": tenant_id_var.get(),
                    },
                )
            request_id_var.reset(rid_token)
            tenant_id_var.reset(tenant_token)


# Metric children by label values (bounded: route templates, not paths); `labels()` on every
# request costs more than the observation itself.
_COUNTERS: dict[tuple[str, str, int], Any] = {}
_HISTOGRAMS: dict[tuple[str, str], Any] = {}


def _observe(method: str, route: str, status: int, elapsed: float) -> None:
    counter = _COUNTERS.get((method, route, status))
    if counter is None:
        counter = _COUNTERS[method, route, status] = HTTP_REQUESTS.labels(
            method, route, str(status)
        )
    histogram = _HISTOGRAMS.get((method, route))
    if histogram is None:
        histogram = _HISTOGRAMS[method, route] = HTTP_DURATION.labels(method, route)
    counter.inc()
    histogram.observe(elapsed)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    """Count streamed (chunked) bodies and stop reading once past the limit."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return wrapped
