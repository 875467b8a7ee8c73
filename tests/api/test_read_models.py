"""Lists are served from read models (plain columns → JSON, no ORM entities); single
resources from entities through their response schema. Both must give the same JSON, byte for
byte per item, filtered and unfiltered pages alike, and list the schema's fields in order."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from backend.api.schemas.audit import AuditRead
from backend.api.schemas.bets import BetRead
from backend.api.schemas.bookmakers import BookmakerRead
from backend.api.schemas.strategies import StrategyRead
from backend.api.schemas.teams import TeamRead
from backend.api.schemas.tenants import TenantRead
from backend.repositories.audit_log import AuditRepository, TenantAuditRepository
from backend.repositories.bets import BetRepository
from backend.repositories.reference import BookmakerRepository, TeamRepository
from backend.repositories.strategies import StrategyRepository
from backend.repositories.tenancy import TenantRecordRepository
from tests.helpers import (
    bet_body,
    count_statements,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)


@pytest.mark.parametrize(
    ("repository", "schema"),
    [
        (TeamRepository, TeamRead),
        (BookmakerRepository, BookmakerRead),
        (StrategyRepository, StrategyRead),
        (BetRepository, BetRead),
        (TenantRecordRepository, TenantRead),
        (AuditRepository, AuditRead),
        (TenantAuditRepository, AuditRead),
    ],
)
def test_each_read_model_has_its_schemas_fields_in_order(repository: Any, schema: Any) -> None:
    view = repository.list_view
    assert view is not None
    assert [c.key for c in view.columns] == list(schema.model_fields)


def _items(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> list[bytes]:
    """Each item of every page, as the exact bytes the server sent."""
    out, cursor = [], None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = orjson.loads(response.content)
        out.extend(orjson.dumps(item) for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def _same_as_get(client: TestClient, base: str, items: list[bytes], headers: dict[str, str]):
    assert items
    for raw in items:
        item = orjson.loads(raw)
        got = client.get(f"{base}/{item['id']}", headers=headers)
        assert got.status_code == 200, got.text
        assert orjson.dumps(orjson.loads(got.content)) == raw, base


def test_tenant_lists_are_what_get_returns(client: TestClient, admin_headers: dict[str, str]):
    _, headers = make_tenant(client, admin_headers)
    match = make_match(client, admin_headers, kickoff_at="2035-09-01T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    strategies = [make_strategy(client, headers, description=d) for d in ("a", None, "ü%")]
    for strategy in strategies:
        body = bet_body(strategy["id"], match["id"], book["id"], stake="12.34", price="1.905")
        assert client.post("/v1/bets", json=body, headers=idem(headers)).status_code == 201
    client.post(
        f"/v1/strategies/{strategies[0]['id']}/kill", json={"reason": "risk"}, headers=headers
    )
    settle = client.post(
        f"/v1/matches/{match['id']}/cancel", json={"reason": "test"}, headers=admin_headers
    )
    assert settle.status_code in (200, 204), settle.text
    _same_as_get(client, "/v1/strategies", _items(client, "/v1/strategies", headers), headers)
    bets = _items(client, "/v1/bets", headers)
    assert len(bets) == 3
    _same_as_get(client, "/v1/bets", bets, headers)
    filtered = _items(client, "/v1/bets", headers, strategy_id=strategies[1]["id"])
    assert filtered == [b for b in bets if orjson.loads(b)["strategy_id"] == strategies[1]["id"]]
    audit = _items(client, "/v1/audit", headers)
    assert len(audit) >= 7  # 3 strategies, 3 bets (+ debits), a kill
    assert all(set(orjson.loads(a)) == set(AuditRead.model_fields) for a in audit)
    by_type = _items(client, "/v1/audit", headers, entity_type="bet")
    assert by_type == [a for a in audit if orjson.loads(a)["entity_type"] == "bet"]


def test_reference_lists_are_what_get_returns(client: TestClient, admin_headers: dict[str, str]):
    made = [
        client.post(
            "/v1/teams",
            json={"name": f"Read Model {n} FC", "country": c, "league": "Read League"},
            headers=admin_headers,
        ).json()
        for n, c in ((1, "England"), (2, None), (3, "Côte d'Ivoire"))
    ]
    assert all("id" in t for t in made)
    teams = _items(client, "/v1/teams", admin_headers, league="Read League")
    assert len(teams) == 3
    _same_as_get(client, "/v1/teams", teams, admin_headers)
    for name in ("Read Model Sharp", "Read Model Soft"):
        make_bookmaker(client, admin_headers, name=name, is_sharp=name.endswith("Sharp"))
    books = [b for b in _items(client, "/v1/bookmakers", admin_headers) if b"Read Model" in b]
    assert len(books) == 2
    _same_as_get(client, "/v1/bookmakers", books, admin_headers)
    tenants = _items(client, "/v1/admin/tenants", admin_headers)
    _same_as_get(client, "/v1/admin/tenants", tenants[:5], admin_headers)


def test_latest_and_closing_odds_rows_are_the_history_rows(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers, kickoff_at="2024-05-01T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    rows = [
        {
            "match_id": match["id"],
            "bookmaker_id": book["id"],
            "market": "1x2",
            "selection": sel,
            "price": price,
            "captured_at": when,
        }
        for sel, price, when in (
            ("home", "2.100", "2024-04-30T10:00:00+02:00"),
            ("home", "2.05", "2024-05-01T14:59:59.5Z"),
            ("away", "3.4", "2024-04-29T09:00:00Z"),
        )
    ]
    stored = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    assert stored.status_code == 200, stored.text
    history = {
        orjson.loads(r)["id"]: r
        for r in _items(client, f"/v1/matches/{match['id']}/odds/history", admin_headers)
    }
    for path in ("odds", "closing-odds"):
        got = client.get(f"/v1/matches/{match['id']}/{path}", headers=admin_headers)
        assert got.status_code == 200, got.text
        items = orjson.loads(got.content)["items"]
        assert [i["selection"] for i in items] == ["away", "home"]  # by book, market, selection
        home = items[1]
        assert home["price"] == "2.050" and home["captured_at"] == "2024-05-01T14:59:59.500000Z"
        for item in items:
            assert orjson.dumps(item) == history[item["id"]]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/teams",
        "/v1/bookmakers",
        "/v1/strategies",
        "/v1/bets",
        "/v1/audit",
        "/v1/admin/tenants",
        "/v1/admin/audit",
    ],
)
def test_every_list_is_one_round_trip_whatever_the_page_size(
    client: TestClient, db: Any, admin_headers: dict[str, str], path: str
) -> None:
    _, tenant = make_tenant(client, admin_headers)
    make_strategy(client, tenant)
    headers = admin_headers if path.startswith("/v1/admin") else tenant
    # Reference lists are cached per page: a repeated page costs nothing (see test_cache.py).
    cached = path in ("/v1/teams", "/v1/bookmakers")
    counts = []
    for limit in (1, 500, 1, 500):
        for params in ({"limit": limit}, {"limit": limit, "include_total": "true"}):
            with count_statements(db.engine) as sent:
                response = client.get(path, params=params, headers=headers)
            assert response.status_code == 200, response.text
            counts.append((bool(params.get("include_total")), len(sent)))
    first, again = counts[:4], counts[4:]
    assert {n for total, n in first if not total} == {1}, counts  # the page, context in front
    assert {n for total, n in first if total} == {2}, counts  # and the count
    assert {n for _, n in again} == ({0} if cached else {n for _, n in first}), counts
