"""The order of the route table: the order in which a request is matched against it.

Starlette matches a request by scanning the routes in order, about a microsecond a route here
(a regular expression and FastAPI's bookkeeping each), so a route near the end of 66 costs a
request some 50 µs before any of its own work. The table is ordered by what clients call most:
the API's reads and its two hot writes (placing a bet, ingesting odds: what trading bots and
odds feeds send all day), in the modules' order in `create_app` (odds, bets, matches,
strategies, analytics, audit, reference data, ...), then the other writes, then the operators'
and documentation routes (health checks, metrics, OpenAPI). The order never decides *which*
route answers: no request matches two routes (tests/api/test_route_order.py), and `Allow` on a
405 is computed over every route.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

READS = frozenset({"GET", "HEAD"})
HOT_WRITES = frozenset({("POST", "/v1/bets"), ("POST", "/v1/odds/batch")})


def traffic_rank(route: BaseRoute) -> int:
    """0: an API read or hot write, 1: another API write, 2: everything else (health,
    metrics, documents)."""
    path: str = getattr(route, "path", "")
    if not path.startswith("/v1/"):
        return 2
    methods = getattr(route, "methods", None) or set()
    if methods & READS or any((m, path) in HOT_WRITES for m in methods):
        return 0
    return 1


def order_routes(routes: list[BaseRoute]) -> None:
    """Sort the table in place by `traffic_rank`, keeping the given order within a rank."""
    routes[:] = sorted(routes, key=traffic_rank)
