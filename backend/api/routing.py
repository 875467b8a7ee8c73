"""The route class every router uses: authentication first, then strict JSON bodies.

Order of checks for a matched route: 401/403 (who you are), 415 (body media type),
400 (malformed JSON, including NaN/Infinity), then FastAPI's schema validation (422).

Routes whose parameters `fastpath.compile_route` can resolve are served by a compiled handler
(the same checks, the same validated values, the endpoint run in the threadpool); a request
it cannot resolve, and every route it cannot compile, goes through FastAPI's own handler.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Coroutine
from decimal import Decimal
from functools import cached_property
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.auth import SECURITY_SCHEME, AuthRequirement, authenticate, requirement_of
from backend.api.docs import problem, standard_problems
from backend.api.fastpath import Resolver, compile_route
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
        resolver = compile_route(self.dependant, self.body_field, self._embed_body_fields)
        # The app's router tries routes in order: reject other paths by their static prefix and
        # depth before the regex (no parameter here spans a "/").
        static = ":path}" not in self.path
        self._prefix = self.path_format.split("{", 1)[0] if static else None
        self._depth = self.path_format.count("/")
        # The compiled resolver, when this route is served by the compiled handler.
        self.resolver = resolver if resolver is not None and _returns_response(endpoint) else None
        if self.resolver is not None:
            self.app = self._compiled_app(self.resolver, fallback=self.app)

    @cached_property
    def requirement(self) -> AuthRequirement | None:
        """Who may call this route: the strictest auth dependency it declares (None: public)."""
        return requirement_of(_walk(self.dependant))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._prefix is not None and scope["type"] == "http":
            path = get_route_path(scope)
            if path.count("/") != self._depth or not path.startswith(self._prefix):
                return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        requirement = self.requirement
        expects_json = self.body_field is not None

        async def route_handler(request: Request) -> Response:
            if requirement is not None:
                await authenticate(request, requirement)
            if expects_json:
                await _json_body(request)
            return await handler(request)

        return route_handler

    def _compiled_app(self, resolve: Resolver, fallback: ASGIApp) -> ASGIApp:
        endpoint = self.dependant.call
        assert endpoint is not None
        is_async = inspect.iscoroutinefunction(endpoint)
        requirement = self.requirement
        expects_json = self.body_field is not None
        overrides = self.dependency_overrides_provider

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            if requirement is not None:
                await authenticate(request, requirement)
            body = await _json_body(request) if expects_json else None
            kwargs = None
            if not getattr(overrides, "dependency_overrides", None):
                kwargs = await resolve(request, body, {})
            if kwargs is None:
                # Missing or invalid input: FastAPI's handler produces its exact 422.
                replay = _replay(await request.body()) if expects_json else receive
                await fallback(scope, replay, send)
                return
            if is_async:
                response = await endpoint(**kwargs)
            else:
                response = await run_in_threadpool(endpoint, **kwargs)
            await response(scope, receive, send)

        return app


async def _json_body(request: Request) -> Any:
    """The parsed JSON body (None when empty), after the media-type and syntax checks."""
    body = await request.body()
    if not body:
        return None
    if not is_json_media_type(request.headers.get("content-type")):
        raise ApiProblem(415, "request body must be application/json")
    request._json = parse_json(body)
    return request._json


def _replay(body: bytes) -> Receive:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(endpoint).get("return")
    except Exception:  # an unresolvable annotation: leave the route to FastAPI
        return False
    return isinstance(returned, type) and issubclass(returned, Response)
