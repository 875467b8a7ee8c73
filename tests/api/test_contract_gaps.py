"""Promises of API.md checked nowhere else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import (
    assert_problem,
    bet_body,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)


def test_bookmaker_delete_is_409_while_odds_or_bets_reference_it(
    client: TestClient, admin_headers: dict[str, str], tenant_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers, kickoff_at="2035-02-01T15:00:00Z")
    with_odds, with_bets = (
        make_bookmaker(client, admin_headers),
        make_bookmaker(client, admin_headers),
    )
    snapshot = {
        "match_id": match["id"],
        "bookmaker_id": with_odds["id"],
        "market": "1x2",
        "selection": "home",
        "price": "2.0",
        "captured_at": "2024-01-01T00:00:00Z",
    }
    client.post("/v1/odds/batch", json={"snapshots": [snapshot]}, headers=admin_headers)
    strategy = make_strategy(client, tenant_headers)
    placed = client.post(
        "/v1/bets",
        json=bet_body(strategy["id"], match["id"], with_bets["id"]),
        headers=idem(tenant_headers),
    )
    assert placed.status_code == 201
    for book in (with_odds, with_bets):
        assert_problem(
            client.delete(f"/v1/bookmakers/{book['id']}", headers=admin_headers),
            409,
            "still-referenced",
        )
        assert client.get(f"/v1/bookmakers/{book['id']}", headers=admin_headers).status_code == 200


def test_leaderboard_ranks_by_clv_nulls_last_then_pnl_then_name(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    _, headers = make_tenant(client, admin_headers)
    match = make_match(client, admin_headers, kickoff_at="2035-04-01T15:00:00Z")
    sharp, soft = (
        make_bookmaker(client, admin_headers, is_sharp=True),
        make_bookmaker(client, admin_headers),
    )
    low = make_strategy(client, headers, name="b low clv")
    high = make_strategy(client, headers, name="c high clv")
    no_clv_rich = make_strategy(client, headers, name="a no clv")
    unsettled = make_strategy(client, headers, name="d nothing settled")

    def bet(strategy: dict[str, Any], book: int, selection: str, price: str) -> None:
        body = bet_body(strategy["id"], match["id"], book, selection=selection, price=price)
        assert client.post("/v1/bets", json=body, headers=idem(headers)).status_code == 201

    bet(low, soft["id"], "home", "2.100")  # clv vs 2.0: +0.05
    bet(high, soft["id"], "home", "2.400")  # clv +0.20
    bet(no_clv_rich, soft["id"], "draw", "9.000")  # no sharp draw price: clv null, won
    kickoff = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with raw_engine.begin() as conn:
        conn.execute(
            text("UPDATE matches SET kickoff_at = :k WHERE id = :m"),
            {"k": kickoff, "m": match["id"]},
        )
    closing = {
        "match_id": match["id"],
        "bookmaker_id": sharp["id"],
        "market": "1x2",
        "selection": "home",
        "price": "2.0",
        "captured_at": (kickoff - timedelta(minutes=5)).isoformat(),
    }
    client.post("/v1/odds/batch", json={"snapshots": [closing]}, headers=admin_headers)
    client.post(
        f"/v1/matches/{match['id']}/result",
        json={"home_score": 1, "away_score": 1},
        headers=admin_headers,
    )

    board = client.get("/v1/leaderboard", headers=headers).json()["items"]
    assert [(e["rank"], e["strategy"]["name"]) for e in board] == [
        (1, "c high clv"),
        (2, "b low clv"),
        (3, "a no clv"),
    ]
    assert [e["avg_clv"] for e in board] == ["0.2000", "0.0500", None]
    assert board[2]["pnl"] == "80.00"  # the null-CLV strategy ranks last despite its profit
    assert unsettled["id"] not in {e["strategy"]["id"] for e in board}
    top = client.get("/v1/leaderboard", params={"limit": 1}, headers=headers).json()["items"]
    assert [e["strategy"]["name"] for e in top] == ["c high clv"]


def test_odds_batch_takes_bodies_over_one_mebibyte_up_to_64(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    rows = [
        {
            "match_id": 99999999,
            "bookmaker_id": 1,
            "market": "1x2",
            "selection": "home",
            "price": "2.0",
            "captured_at": "2024-01-01T00:00:00Z",
        }
    ] * 15_000  # ~2 MiB
    # Past the 1 MiB limit of other routes, yet read: the unknown match is the answer.
    assert_problem(
        client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers), 422
    )
    declared = {**admin_headers, "Content-Type": "text/csv", "Content-Length": str((64 << 20) + 1)}
    assert_problem(client.post("/v1/odds/batch", content=b"x", headers=declared), 413)
