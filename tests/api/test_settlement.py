"""Results and cancellations settle every open bet of every tenant, with CLV, in one go."""

from __future__ import annotations

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

KICKOFF = "2031-03-01T15:00:00Z"


def _odds(
    client: TestClient,
    admin: dict[str, str],
    match_id: int,
    book_id: int,
    prices: dict[str, str],
    at: datetime,
) -> None:
    stamp = at.isoformat().replace("+00:00", "Z")
    rows = [
        {
            "match_id": match_id,
            "bookmaker_id": book_id,
            "market": "1x2",
            "selection": s,
            "price": p,
            "captured_at": stamp,
        }
        for s, p in prices.items()
    ]
    response = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin)
    assert response.status_code == 200, response.text


def _kick_off(raw_engine: Engine, match_id: int) -> datetime:
    """Move the kickoff two hours into the past (bets were placed before it); returns it."""
    kickoff = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with raw_engine.begin() as conn:
        conn.execute(
            text("UPDATE matches SET kickoff_at = :k WHERE id = :m"), {"k": kickoff, "m": match_id}
        )
    return kickoff


def test_result_settles_bets_of_every_tenant_with_closing_line_value(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    sharp_low = make_bookmaker(client, admin_headers, is_sharp=True)
    sharp_high = make_bookmaker(client, admin_headers, is_sharp=True)
    soft = make_bookmaker(client, admin_headers)
    (_, a), (_, b) = make_tenant(client, admin_headers), make_tenant(client, admin_headers)
    sa = make_strategy(client, a, bankroll="100.00", max_stake="50")
    sb = make_strategy(client, b, bankroll="100.00", max_stake="50")

    def place(headers: dict[str, str], strategy: dict[str, Any], **kw: Any) -> dict[str, Any]:
        body = bet_body(strategy["id"], match["id"], soft["id"], **kw)
        result: dict[str, Any] = client.post("/v1/bets", json=body, headers=idem(headers)).json()
        return result

    won = place(a, sa, selection="home", stake="10.00", price="2.105")
    lost = place(a, sa, selection="draw", stake="5.00", price="3.300")
    other = place(b, sb, selection="away", stake="20.00", price="4.400")
    kickoff = _kick_off(raw_engine, match["id"])
    # Closing line at the lowest-id sharp book: the LAST snapshot at or before kickoff.
    _odds(
        client,
        admin_headers,
        match["id"],
        sharp_low["id"],
        {"home": "2.000", "draw": "3.500", "away": "4.000"},
        kickoff - timedelta(days=1),
    )
    _odds(
        client,
        admin_headers,
        match["id"],
        sharp_low["id"],
        {"home": "1.900", "draw": "3.600"},
        kickoff - timedelta(minutes=1),
    )
    _odds(
        client,
        admin_headers,
        match["id"],
        sharp_high["id"],
        {"home": "1.500", "draw": "3.000", "away": "5.000"},
        kickoff,
    )
    # A snapshot after kickoff is history, not the closing line.
    _odds(
        client,
        admin_headers,
        match["id"],
        sharp_low["id"],
        {"home": "1.010"},
        kickoff + timedelta(minutes=30),
    )

    response = client.post(
        f"/v1/matches/{match['id']}/result",
        json={"home_score": 2, "away_score": 1},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["settled_bets"] == 3
    assert body["match"]["status"] == "finished"
    assert (body["match"]["home_score"], body["match"]["away_score"]) == (2, 1)

    w = client.get(f"/v1/bets/{won['id']}", headers=a).json()
    assert (w["status"], w["pnl"], w["closing_price"], w["clv"]) == (
        "won",
        "11.05",
        "1.900",
        "0.1079",
    )  # 10 x 2.105 = 21.05; 2.105/1.9 - 1 = 0.10789...
    assert w["settled_at"] is not None
    lo = client.get(f"/v1/bets/{lost['id']}", headers=a).json()
    assert (lo["status"], lo["pnl"], lo["closing_price"], lo["clv"]) == (
        "lost",
        "-5.00",
        "3.600",
        "-0.0833",
    )
    ot = client.get(f"/v1/bets/{other['id']}", headers=b).json()
    assert (ot["status"], ot["pnl"], ot["closing_price"], ot["clv"]) == (
        "lost",
        "-20.00",
        "4.000",
        "0.1000",
    )

    strat_a = client.get(f"/v1/strategies/{sa['id']}", headers=a).json()
    assert strat_a["bankroll"] == str(Decimal("100.00") - 15 + Decimal("21.05"))
    assert strat_a["version"] == 4  # created, two debits, one credit
    assert client.get(f"/v1/strategies/{sb['id']}", headers=b).json()["bankroll"] == "80.00"

    perf = client.get(f"/v1/strategies/{sa['id']}/performance", headers=a).json()
    assert perf == {
        "bets": 2,
        "open": 0,
        "settled": 2,
        "void": 0,
        "staked": "15.00",
        "returned": "21.05",
        "pnl": "6.05",
        "roi": "0.4033",
        "avg_clv": "0.0123",
        "beat_closing_rate": "0.5000",
    }
    board = client.get("/v1/leaderboard", headers=a).json()["items"]
    assert [(e["rank"], e["strategy"]["id"], e["settled"], e["pnl"]) for e in board] == [
        (1, sa["id"], 2, "6.05")
    ]

    settles = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE action='settle' AND entity_id IN (:x, :y, :z)",
        x=won["id"],
        y=lost["id"],
        z=other["id"],
    )
    credits = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE entity_id=:s AND "
        "action='update' AND changes ? 'bankroll'",
        s=sa["id"],
    )
    assert (settles, credits) == (3, 3)  # two debits and one credit of strategy A

    again = client.post(
        f"/v1/matches/{match['id']}/result",
        json={"home_score": 2, "away_score": 1},
        headers=admin_headers,
    )
    assert again.status_code == 200 and again.json()["settled_bets"] == 0
    assert_problem(
        client.post(
            f"/v1/matches/{match['id']}/result",
            json={"home_score": 0, "away_score": 0},
            headers=admin_headers,
        ),
        409,
        "result-conflict",
    )
    assert_problem(
        client.post(f"/v1/matches/{match['id']}/cancel", headers=admin_headers),
        409,
        "match-finished",
    )


def test_no_sharp_price_means_no_closing_price_and_over_under_settles(
    client: TestClient,
    admin_headers: dict[str, str],
    tenant_headers: dict[str, str],
    raw_engine: Engine,
) -> None:
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    soft = make_bookmaker(client, admin_headers)
    strategy = make_strategy(client, tenant_headers)
    over = client.post(
        "/v1/bets",
        json=bet_body(strategy["id"], match["id"], soft["id"], market="ou2.5", selection="over"),
        headers=idem(tenant_headers),
    ).json()
    _kick_off(raw_engine, match["id"])
    client.post(
        f"/v1/matches/{match['id']}/result",
        json={"home_score": 1, "away_score": 2},
        headers=admin_headers,
    )
    bet = client.get(f"/v1/bets/{over['id']}", headers=tenant_headers).json()
    assert (bet["status"], bet["closing_price"], bet["clv"], bet["pnl"]) == (
        "won",
        None,
        None,
        "11.50",
    )


def test_result_rules_and_cancel_voids_and_refunds(
    client: TestClient,
    admin_headers: dict[str, str],
    tenant_headers: dict[str, str],
    raw_engine: Engine,
) -> None:
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    book = make_bookmaker(client, admin_headers)
    url = f"/v1/matches/{match['id']}"
    assert_problem(
        client.post(
            f"{url}/result", json={"home_score": 1, "away_score": 0}, headers=admin_headers
        ),
        409,
        "match-not-started",
    )
    for bad in (
        {"home_score": -1, "away_score": 0},
        {"home_score": 100, "away_score": 0},
        {"home_score": "1", "away_score": 0},
        {"home_score": 1},
    ):
        assert_problem(client.post(f"{url}/result", json=bad, headers=admin_headers), 422)
    assert_problem(
        client.post(
            f"{url}/result", json={"home_score": 1, "away_score": 0}, headers=tenant_headers
        ),
        403,
    )
    assert_problem(
        client.post(
            "/v1/matches/99999999/result",
            json={"home_score": 1, "away_score": 0},
            headers=admin_headers,
        ),
        404,
    )
    strategy = make_strategy(client, tenant_headers)
    for stake in ("10.00", "15.50"):
        client.post(
            "/v1/bets",
            json=bet_body(strategy["id"], match["id"], book["id"], stake=stake),
            headers=idem(tenant_headers),
        )
    cancelled = client.post(f"{url}/cancel", headers=admin_headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["voided_bets"] == 2
    assert cancelled.json()["match"]["status"] == "cancelled"
    after = client.get(f"/v1/strategies/{strategy['id']}", headers=tenant_headers).json()
    assert (after["bankroll"], after["version"]) == ("1000.00", 4)
    bets = client.get(
        "/v1/bets", params={"strategy_id": strategy["id"]}, headers=tenant_headers
    ).json()["items"]
    assert {(b["status"], b["pnl"]) for b in bets} == {("void", "0.00")}
    assert client.post(f"{url}/cancel", headers=admin_headers).json()["voided_bets"] == 0
    assert_problem(
        client.post(
            f"{url}/result", json={"home_score": 1, "away_score": 0}, headers=admin_headers
        ),
        409,
        "match-cancelled",
    )
    voids = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE action='void' "
        "AND tenant_id IS NOT NULL AND entity_id IN (SELECT id::text FROM bets "
        "WHERE strategy_id=:s)",
        s=strategy["id"],
    )
    assert voids == 2


def test_bets_close_at_kickoff(
    client: TestClient,
    admin_headers: dict[str, str],
    tenant_headers: dict[str, str],
    raw_engine: Engine,
    market: dict[str, Any],
) -> None:
    strategy = make_strategy(client, tenant_headers)
    _kick_off(raw_engine, market["match_id"])
    response = client.post(
        "/v1/bets", json=bet_body(strategy["id"], **market), headers=idem(tenant_headers)
    )
    assert_problem(response, 409, "market-closed")
