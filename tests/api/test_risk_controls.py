"""Desk risk controls on POST /v1/bets: a strategy's exposure limit per match and the price guard.

The exposure race runs 20 times with 8 bettor threads and checks after each run what a desk
would audit: the open stakes on the match never above the limit (and filled to it), the
bankroll equal to initial - open stakes, one `create` and one strategy `update` audit entry per
accepted bet, and every refusal a 409 exposure-limit.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import (
    assert_problem,
    bet_body,
    count_rows,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)

ROUNDS = 20
BETTORS = 8


def _future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _slug(response: Any) -> str:
    return str(response.json().get("type", "")).rsplit("/", 1)[-1]


def _open_stakes(engine: Engine, strategy_id: str, match_id: int) -> Decimal:
    with engine.connect() as conn:
        return Decimal(
            conn.execute(
                text(
                    "SELECT coalesce(sum(stake), 0) FROM bets WHERE strategy_id = :s "
                    "AND match_id = :m AND status = 'open'"
                ),
                {"s": strategy_id, "m": match_id},
            ).scalar_one()
        )


def _bankroll(client: TestClient, headers: dict[str, str], strategy_id: str) -> Decimal:
    return Decimal(client.get(f"/v1/strategies/{strategy_id}", headers=headers).json()["bankroll"])


# --- exposure limit ---------------------------------------------------------------------------


def _bet_until_refused(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], slug: str
) -> Counter[tuple[int, str]]:
    """BETTORS threads place `body` (each with a new key) until each is refused with `slug`;
    every exposure refusal must name a limit the bet would have passed."""
    results: Counter[tuple[int, str]] = Counter()
    lock = threading.Lock()

    def bet(_: int) -> None:
        for _ in range(40):  # bounded: a run that never refuses fails below, never hangs
            response = client.post("/v1/bets", json=body, headers=idem(headers))
            outcome = (response.status_code, "" if response.is_success else _slug(response))
            with lock:
                results[outcome] += 1
            if outcome[1] == slug:
                problem = response.json()
                limit = Decimal(problem["max_match_exposure"])
                assert Decimal(problem["open_stakes"]) + Decimal(body["stake"]) > limit
                return

    with ThreadPoolExecutor(max_workers=BETTORS) as pool:
        list(pool.map(bet, range(BETTORS)))
    return results


def test_exposure_limit_holds_under_concurrent_bets_every_round(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    """8 threads bet 7.00 at a time against a 100.00 limit: exactly 14 bets (98.00) pass."""
    for _ in range(ROUNDS):
        tenant, headers = make_tenant(client, admin_headers)
        match = make_match(client, admin_headers, kickoff_at=_future())
        book = make_bookmaker(client, admin_headers)["id"]
        strategy = make_strategy(
            client, headers, bankroll="10000.00", max_stake="50.00", max_match_exposure="100.00"
        )
        body = bet_body(strategy["id"], match["id"], book, stake="7.00")
        results = _bet_until_refused(client, headers, body, "exposure-limit")
        assert set(results) <= {(201, ""), (409, "exposure-limit")}, results
        assert results[201, ""] == 14, results
        assert _open_stakes(raw_engine, strategy["id"], match["id"]) == Decimal("98.00")
        assert _bankroll(client, headers, strategy["id"]) == Decimal("10000.00") - Decimal("98.00")
        # One entry per accepted mutation, none per refusal.
        audit = {f"{a} {e}": n for a, e, n in _audit_counts(raw_engine, tenant["id"])}
        assert audit == {"create strategy": 1, "create bet": 14, "update strategy": 14}, audit


def _audit_counts(engine: Engine, tenant_id: str) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT action, entity_type, count(*) FROM audit_log WHERE tenant_id = :t "
                "GROUP BY action, entity_type"
            ),
            {"t": tenant_id},
        ).all()
    return [(a, e, n) for a, e, n in rows]


def test_exposure_is_per_match_and_a_refusal_changes_nothing(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    first = make_match(client, admin_headers, kickoff_at=_future())
    second = make_match(client, admin_headers, kickoff_at=_future())
    book = make_bookmaker(client, admin_headers)["id"]
    strategy = make_strategy(client, headers, bankroll="1000.00", max_match_exposure="25.00")
    assert strategy["max_match_exposure"] == "25.00"
    sid = strategy["id"]

    ok = client.post(
        "/v1/bets", json=bet_body(sid, first["id"], book, stake="20"), headers=idem(headers)
    )
    assert ok.status_code == 201, ok.text
    key = "over-the-limit"
    refused = client.post(
        "/v1/bets", json=bet_body(sid, first["id"], book, stake="5.01"), headers=idem(headers, key)
    )
    problem = assert_problem(refused, 409, "exposure-limit")
    assert problem["max_match_exposure"] == "25.00"
    assert problem["open_stakes"] == "20.00"
    assert "25.01" in problem["detail"]
    # Nothing changed: bankroll, bets, audit, and the key is free for a judged-afresh retry.
    assert _bankroll(client, headers, sid) == Decimal("980.00")
    assert count_rows(raw_engine, "SELECT count(*) FROM bets WHERE strategy_id = :s", s=sid) == 1
    assert (
        count_rows(raw_engine, "SELECT count(*) FROM idempotency_keys WHERE key = :k", k=key) == 0
    )
    # Up to the limit exactly is fine; another match has its own room.
    exact = client.post(
        "/v1/bets", json=bet_body(sid, first["id"], book, stake="5.00"), headers=idem(headers, key)
    )
    assert exact.status_code == 201, exact.text
    other = client.post(
        "/v1/bets", json=bet_body(sid, second["id"], book, stake="25.00"), headers=idem(headers)
    )
    assert other.status_code == 201, other.text
    assert _audit_counts(raw_engine, tenant["id"]).count(("create", "bet", 3)) == 1


def test_exposure_limit_is_set_changed_and_cleared(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, headers = make_tenant(client, admin_headers)
    match = make_match(client, admin_headers, kickoff_at=_future())
    book = make_bookmaker(client, admin_headers)["id"]
    strategy = make_strategy(client, headers)
    sid = strategy["id"]
    assert strategy["max_match_exposure"] is None and strategy["price_tolerance"] is None

    limits = client.post(
        f"/v1/strategies/{sid}/limits",
        json={"max_match_exposure": "15.00", "reason": "desk cap"},
        headers=headers,
    )
    assert limits.status_code == 200, limits.text
    assert limits.json()["max_match_exposure"] == "15.00"
    assert limits.json()["max_stake"] == "100.00"  # not given: unchanged
    place = client.post(
        "/v1/bets", json=bet_body(sid, match["id"], book, stake="10"), headers=idem(headers)
    )
    assert place.status_code == 201
    again = client.post(
        "/v1/bets", json=bet_body(sid, match["id"], book, stake="10"), headers=idem(headers)
    )
    assert_problem(again, 409, "exposure-limit")

    cleared = client.post(
        f"/v1/strategies/{sid}/limits", json={"max_match_exposure": None}, headers=headers
    )
    assert cleared.json()["max_match_exposure"] is None
    free = client.post(
        "/v1/bets", json=bet_body(sid, match["id"], book, stake="10"), headers=idem(headers)
    )
    assert free.status_code == 201, free.text

    audit = client.get(
        "/v1/audit", params={"entity_type": "strategy", "entity_id": sid}, headers=headers
    ).json()["items"]
    changes = [e["changes"] for e in audit if "max_match_exposure" in e["changes"]]
    assert changes == [
        {"max_match_exposure": [None, "15.00"]},
        {"max_match_exposure": ["15.00", None]},
    ]


def test_limits_body_needs_a_limit_and_refuses_bad_values(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, headers = make_tenant(client, admin_headers)
    sid = make_strategy(client, headers)["id"]
    for body in (
        {},
        {"reason": "nothing"},
        {"max_stake": None},
        {"max_match_exposure": "0"},
        {"max_match_exposure": "-5"},
        {"price_tolerance": "1.0001"},
        {"price_tolerance": "0.00001"},
        {"price_tolerance": "-0.01"},
    ):
        assert_problem(client.post(f"/v1/strategies/{sid}/limits", json=body, headers=headers), 422)
    assert client.get(f"/v1/strategies/{sid}", headers=headers).json()["version"] == 1


# --- price guard ------------------------------------------------------------------------------


def _snapshot(
    client: TestClient,
    admin: dict[str, str],
    match: int,
    book: int,
    price: str,
    at: str,
    selection: str = "home",
) -> None:
    row = {
        "match_id": match,
        "bookmaker_id": book,
        "market": "1x2",
        "selection": selection,
        "price": price,
        "captured_at": at,
    }
    response = client.post("/v1/odds/batch", json={"snapshots": [row]}, headers=admin)
    assert response.status_code in (200, 201), response.text


def test_a_price_better_than_the_latest_snapshot_is_price_changed(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    _, headers = make_tenant(client, admin_headers)
    match = make_match(client, admin_headers, kickoff_at=_future())["id"]
    book = make_bookmaker(client, admin_headers)["id"]
    other_book = make_bookmaker(client, admin_headers)["id"]
    sid = make_strategy(client, headers)["id"]
    latest_at = _ago(5)
    _snapshot(client, admin_headers, match, book, "2.500", _ago(60))  # older, higher
    _snapshot(client, admin_headers, match, book, "2.000", latest_at)

    # 2.000 x 1.02 = 2.040 is the best price accepted at the default 2% tolerance.
    refused = client.post(
        "/v1/bets", json=bet_body(sid, match, book, price="2.041"), headers=idem(headers)
    )
    problem = assert_problem(refused, 409, "price-changed")
    assert problem["current_price"] == "2.000"
    assert problem["max_price"] == "2.040"
    assert problem["price_tolerance"] == "0.0200"
    assert datetime.fromisoformat(problem["captured_at"]) == datetime.fromisoformat(latest_at)
    assert _bankroll(client, headers, sid) == Decimal("1000.00")
    assert count_rows(raw_engine, "SELECT count(*) FROM bets WHERE strategy_id = :s", s=sid) == 0

    for price in ("2.040", "1.500"):  # at the edge, and worse than the market: taken
        ok = client.post(
            "/v1/bets", json=bet_body(sid, match, book, price=price), headers=idem(headers)
        )
        assert ok.status_code == 201, ok.text
    # No snapshot of that selection, or another bookmaker's: no guard.
    for body in (
        bet_body(sid, match, book, selection="away", price="50.000"),
        bet_body(sid, match, other_book, price="50.000"),
    ):
        ok = client.post("/v1/bets", json=body, headers=idem(headers))
        assert ok.status_code == 201, ok.text


def test_the_strategys_own_tolerance_wins_over_the_default(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, headers = make_tenant(client, admin_headers)
    match = make_match(client, admin_headers, kickoff_at=_future())["id"]
    book = make_bookmaker(client, admin_headers)["id"]
    strict = make_strategy(client, headers, price_tolerance="0")
    loose = make_strategy(client, headers, price_tolerance="0.25")
    assert strict["price_tolerance"] == "0.0000" and loose["price_tolerance"] == "0.2500"
    _snapshot(client, admin_headers, match, book, "2.000", _ago(1))

    assert (
        client.post(
            "/v1/bets",
            json=bet_body(strict["id"], match, book, price="2.000"),
            headers=idem(headers),
        ).status_code
        == 201
    )
    problem = assert_problem(
        client.post(
            "/v1/bets",
            json=bet_body(strict["id"], match, book, price="2.001"),
            headers=idem(headers),
        ),
        409,
        "price-changed",
    )
    assert problem["max_price"] == "2.000" and problem["price_tolerance"] == "0.0000"
    assert (
        client.post(
            "/v1/bets",
            json=bet_body(loose["id"], match, book, price="2.500"),
            headers=idem(headers),
        ).status_code
        == 201
    )
    assert_problem(
        client.post(
            "/v1/bets",
            json=bet_body(loose["id"], match, book, price="2.501"),
            headers=idem(headers),
        ),
        409,
        "price-changed",
    )
    # A newer snapshot moves the reference.
    _snapshot(client, admin_headers, match, book, "2.400", _ago(0))
    assert (
        client.post(
            "/v1/bets",
            json=bet_body(strict["id"], match, book, price="2.400"),
            headers=idem(headers),
        ).status_code
        == 201
    )
