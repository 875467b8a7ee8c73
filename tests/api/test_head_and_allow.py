"""HEAD on every GET route, and a 405's `Allow` listing every method of its path.

RFC 9110 §9.3.2: HEAD is the GET without a body; §15.5.6: a 405 MUST list the methods the
target supports. Both are checked on every route of the app, not a sample.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from tests.helpers import bet_body, idem, make_bookmaker, make_match, make_strategy, make_tenant

PARAM = re.compile(r"\{([a-z_]+)\}")
SAME = ("content-type", "content-length", "etag", "cache-control", "location", "retry-after")


def _routes(app: Any) -> dict[str, set[str]]:
    methods: dict[str, set[str]] = defaultdict(set)
    for route in app.routes:
        if isinstance(route, Route) and route.methods:
            methods[route.path].update(route.methods)
    return methods


@pytest.fixture(scope="module")
def ids(client: TestClient) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {client.app.state.admin_key}"}  # type: ignore[attr-defined]
    tenant, headers = make_tenant(client, admin)
    match = make_match(client, admin, kickoff_at="2035-07-01T15:00:00Z")
    book = make_bookmaker(client, admin)
    strategy = make_strategy(client, headers)
    bet = client.post(
        "/v1/bets", json=bet_body(strategy["id"], match["id"], book["id"]), headers=idem(headers)
    ).json()
    return {
        "team_id": match["home_team"]["id"],
        "bookmaker_id": book["id"],
        "match_id": match["id"],
        "strategy_id": strategy["id"],
        "bet_id": bet["id"],
        "tenant_id": tenant["id"],
        "key_id": tenant["api_key"]["id"],
        "admin": admin,
        "tenant": headers,
    }


def _url(path: str, ids: dict[str, Any]) -> str:
    return PARAM.sub(lambda m: str(ids.get(m[1], "1")), path)


def test_every_get_route_answers_head_as_its_get_without_a_body(
    client: TestClient, app: Any, ids: dict[str, Any]
) -> None:
    checked = 0
    for path, methods in sorted(_routes(app).items()):
        if "GET" not in methods:
            continue
        url = _url(path, ids)
        for who in ("admin", "tenant"):
            got = client.get(url, headers=ids[who])
            head = client.head(url, headers=ids[who])
            # Operational bodies (metrics, pool and cache figures, ready latency) change
            # between two requests; their length is compared only when a second GET agrees.
            steady = client.get(url, headers=ids[who]).content == got.content
            assert head.status_code == got.status_code, (path, who, head.status_code)
            assert head.status_code != 405
            assert head.content == b"", path
            for name in SAME:
                if name == "content-length" and not steady:
                    continue
                assert head.headers.get(name) == got.headers.get(name), (path, who, name)
            checked += 1
    assert checked >= 2 * 25  # every GET family, as both kinds of caller


def test_a_405_lists_every_method_of_its_path(
    client: TestClient, app: Any, ids: dict[str, Any]
) -> None:
    multi = 0
    for path, methods in sorted(_routes(app).items()):
        expected = set(methods) | ({"HEAD"} if "GET" in methods else set())
        url = _url(path, ids)
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - expected):
            response = client.request(method, url, headers=ids["admin"])
            assert response.status_code == 405, (method, path, response.status_code)
            allow = {m.strip() for m in response.headers["allow"].split(",")}
            assert allow == expected, (method, path, allow)
            assert response.headers["content-type"] == "application/problem+json"
        multi += len(methods) > 1
    assert multi >= 8  # e.g. /v1/teams/{team_id}: GET, HEAD, PATCH, DELETE
