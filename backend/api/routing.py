"""The route class every router uses: authentication first, then strict JSON bodies.

Order of checks for a matched route: 401/403 (who you are), 415 (body media type),
400 (malformed JSON, including NaN/Infinity), then FastAPI's schema validation (422).

Everything else is FastAPI's own: its dependency injection, validation and serialisation.
The route handler only runs the two checks FastAPI cannot order this way (authentication
before the body is parsed, and a JSON parser that keeps decimals exact) and then hands the
request, with the body already parsed, to FastAPI's handler.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from functools import cached_property
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope

from backend.api.auth import SECURITY_SCHEME, AuthRequirement, authenticate, requirement_of
from backend.api.docs import problem, standard_problems
from backend.api.problems import ApiProblem


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """RFC 8259 JSON; numbers with a fraction or exponent become exact Decimals."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiProblem(400, f"request body is not valid JSON: {exc}") from None


def is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _walk(dependant: Dependant) -> list[Callable[..., Any]]:
    calls: list[Callable[..., Any]] = []
    for dep in dependant.dependencies:
        if dep.call is not None:
            calls.append(dep.call)
        calls.extend(_walk(dep))
    return calls


class ApiRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        authenticated = self.requirement is not None
        if authenticated:
            extra = dict(self.openapi_extra or {})
            extra.setdefault("security", [{SECURITY_SCHEME: []}])
            self.openapi_extra = extra
        has_body = self.body_field is not None or bool(
            (self.openapi_extra or {}).get("requestBody")
        )
        # Every route documents the problems any route can answer (including FastAPI's own
        # 422, which would otherwise be documented as application/json).
        for code in standard_problems(authenticated, has_body):
            self.responses.setdefault(code, problem(code))

    @cached_property
    def requirement(self) -> AuthRequirement | None:
        """Who may call this route: the strictest auth dependency it declares (None: public)."""
        return requirement_of(_walk(self.dependant))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        requirement = self.requirement
        expects_json = self.body_field is not None

        async def route_handler(request: Request) -> Response:
            if requirement is not None:
                await authenticate(request, requirement)
            if expects_json:
                request = await _parsed(request)
            return await handler(request)

        return route_handler


class ParsedJsonRequest(Request):
    """The request with its body read and parsed by `parse_json`: FastAPI's handler, which
    asks for `body()` and then `json()`, gets the exact decimals and never parses again."""

    def __init__(self, scope: Scope, receive: Receive, raw: bytes, parsed: Any) -> None:
        super().__init__(scope, receive)
        self.raw = raw
        self.parsed = parsed

    async def body(self) -> bytes:
        return self.raw

    async def json(self) -> Any:
        return self.parsed


async def _parsed(request: Request) -> Request:
    """After the media-type and syntax checks (415, 400); an empty body is left to FastAPI
    (its 422 names the missing body)."""
    body = await request.body()
    if not body:
        return request
    if not is_json_media_type(request.headers.get("content-type")):
        raise ApiProblem(415, "request body must be application/json")
    return ParsedJsonRequest(request.scope, request.receive, body, parse_json(body))
