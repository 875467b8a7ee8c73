"""The route table's order (backend/api/route_order.py): reads and the hot writes first, then
the other writes, then the operators' routes, and an order that can never change which route
answers a request."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Match

from backend.api.route_order import traffic_rank

# Values that fit every path parameter's place (ids, UUIDs, slugs).
SAMPLES = ("1", "5e4e4376-c0c0-44d9-afc1-48508b95fe4b", "msg_2f1c")


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _routes(app: Any) -> list[Any]:
    return [r for r in app.routes if getattr(r, "methods", None) and getattr(r, "path", None)]


def test_no_request_matches_two_routes(app: Any) -> None:
    """Each route's own paths match it alone, for each of its methods: so sorting the table
    (or adding a route anywhere in it) cannot hand a request to another route."""
    routes = _routes(app)
    checked = 0
    for route in routes:
        for sample in SAMPLES:
            path = re.sub(r"\{[^}]+\}", sample, route.path)
            for method in route.methods:
                full = [r for r in routes if r.matches(_scope(method, path))[0] is Match.FULL]
                assert full == [route], (method, path, [r.path for r in full])
                checked += 1
    assert checked > 3 * 60  # every route of the API was tried


def test_reads_and_hot_writes_come_first_then_writes_then_the_operators_routes(
    app: Any,
) -> None:
    ranks = [traffic_rank(r) for r in app.routes]
    assert ranks == sorted(ranks)
    by_path = {
        (r.path, method): i
        for i, r in enumerate(app.routes)
        for method in getattr(r, "methods", None) or ()
    }
    first_write = min(i for i, r in enumerate(app.routes) if traffic_rank(r) == 1)
    for read in ("/v1/audit", "/v1/strategies/{strategy_id}/performance", "/v1/teams/{team_id}"):
        assert by_path[read, "GET"] < first_write
    assert by_path["/v1/bets", "POST"] < by_path["/v1/audit", "GET"]  # a hot write
    assert by_path["/v1/bets", "POST"] < first_write
    assert traffic_rank(app.routes[-1]) == 2  # health, metrics and documents last
