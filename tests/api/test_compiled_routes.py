"""The compiled handler resolves exactly what FastAPI's dependency solving resolves.

Each case is resolved twice for the same request: by the route's compiled resolver and by
FastAPI's `solve_dependencies`. Valid input must give equal keyword arguments; invalid input
must make the compiled resolver step aside (None), so FastAPI's handler answers the 422.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastapi.dependencies.utils import solve_dependencies
from starlette.requests import Request
from starlette.routing import Match

from backend.api.routing import ApiRoute
from backend.core.principal import ADMIN, Principal

TENANT = Principal(kind="tenant", tenant_id=uuid.uuid4(), key_id=uuid.uuid4(), actor="fund-key")
STRATEGY = str(uuid.uuid4())


def _route(app: Any, method: str, path: str) -> tuple[ApiRoute, dict[str, Any]]:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in app.router.routes:
        if isinstance(route, ApiRoute):
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, child
    raise AssertionError(f"no route for {method} {path}")


def _request(
    app: Any,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    principal: Principal,
) -> tuple[ApiRoute, Request]:
    route, child = _route(app, method, path)
    scope = {
        "type": "http",
        "app": app,
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "state": {"request_id": "req-1", "principal": principal},
        **child,
    }
    return route, Request(scope)


def _comparable(value: Any) -> Any:
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {
            k: _comparable(v)
            for k, v in vars(value).items()
            # The session factory and its engine are the app's own objects (identical on both
            # sides, and cyclic); the caches likewise.
            if not k.startswith("_session_factory") and k not in ("_engine", "caches")
        }
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return value


async def _both(
    app: Any, method: str, path: str, query: str, headers: dict[str, str], body: Any, who: Principal
) -> tuple[dict[str, Any] | None, dict[str, Any], list[Any]]:
    route, request = _request(app, method, path, query, headers, who)
    assert route.resolver is not None, f"{method} {path} is not compiled"
    fast = await route.resolver(request, body, {})
    async with AsyncExitStack() as stack:
        request.scope["fastapi_inner_astack"] = stack
        request.scope["fastapi_function_astack"] = stack
        solved = await solve_dependencies(
            request=request,
            dependant=route.dependant,
            body=body,
            async_exit_stack=stack,
            embed_body_fields=False,
        )
    return fast, solved.values, solved.errors


VALID = [
    ("GET", "/v1/teams/42", "", {}, None, ADMIN),
    ("GET", "/v1/teams", "", {}, None, ADMIN),
    ("GET", "/v1/teams", "limit=7&league=Premier%20League&include_total=true", {}, None, ADMIN),
    (
        "GET",
        "/v1/matches",
        "limit=50&status=scheduled&kickoff_from=2025-01-01T00:00:00%2B02:00",
        {},
        None,
        ADMIN,
    ),
    (
        "PATCH",
        "/v1/teams/3",
        "",
        {"If-Match": '"4"', "X-Change-Reason": " typo "},
        {"name": "Arsenal"},
        ADMIN,
    ),
    ("DELETE", "/v1/teams/3", "", {}, None, ADMIN),
    (
        "POST",
        "/v1/bets",
        "",
        {"Idempotency-Key": "k-1"},
        {
            "strategy_id": STRATEGY,
            "match_id": 1,
            "bookmaker_id": 2,
            "market": "1x2",
            "selection": "home",
            "stake": "1.00",
            "price": "2.150",
        },
        TENANT,
    ),
    ("GET", "/v1/bets", "status=open&limit=3", {}, None, TENANT),
    ("GET", f"/v1/strategies/{STRATEGY}", "", {}, None, TENANT),
]

INVALID = [
    ("GET", "/v1/teams/notanumber", "", {}, None, ADMIN),
    ("GET", "/v1/teams", "limit=0", {}, None, ADMIN),
    ("GET", "/v1/teams", "include_total=maybe", {}, None, ADMIN),
    ("GET", "/v1/matches", "kickoff_from=yesterday", {}, None, ADMIN),
    ("PATCH", "/v1/teams/3", "", {"If-Match": '"4"'}, {"name": ""}, ADMIN),
    ("POST", "/v1/bets", "", {"Idempotency-Key": "k-1"}, {"stake": "1.00"}, TENANT),
    ("POST", "/v1/bets", "", {}, None, TENANT),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "body", "who"), VALID)
def test_valid_requests_resolve_to_what_fastapi_resolves(
    app: Any, method: str, path: str, query: str, headers: dict[str, str], body: Any, who: Principal
) -> None:
    body = json.loads(json.dumps(body)) if body is not None else None
    fast, slow, errors = asyncio.run(_both(app, method, path, query, headers, body, who))
    assert errors == []
    assert fast is not None
    assert fast.keys() == slow.keys()
    for name in slow:
        assert _comparable(fast[name]) == _comparable(slow[name]), name


@pytest.mark.parametrize(("method", "path", "query", "headers", "body", "who"), INVALID)
def test_invalid_requests_are_left_to_fastapi(
    app: Any, method: str, path: str, query: str, headers: dict[str, str], body: Any, who: Principal
) -> None:
    fast, _, errors = asyncio.run(_both(app, method, path, query, headers, body, who))
    assert errors, "FastAPI itself must reject this input"
    assert fast is None


def test_invalid_query_still_gets_fastapis_422(client: Any, admin_headers: dict[str, str]) -> None:
    response = client.get("/v1/teams?limit=0", headers=admin_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["loc"] == ["query", "limit"] for e in response.json()["errors"])


def test_the_hot_routes_are_compiled(app: Any) -> None:
    for method, path in [
        ("GET", "/v1/teams/1"),
        ("GET", "/v1/matches"),
        ("POST", "/v1/bets"),
        ("GET", "/v1/bookmakers/1"),
    ]:
        route, _ = _route(app, method, path)
        assert route.resolver is not None, (method, path)
