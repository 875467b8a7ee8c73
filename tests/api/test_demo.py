"""The first-start demo: loads once, and leaves a tenant who can bet at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.scripts import seed_demo
from tests.helpers import idem

SEASON = Path(__file__).resolve().parents[2] / "data" / "football-data" / "E0_2024-25.csv"


def test_demo_seed_is_usable_and_runs_once(fresh_stack: Any) -> None:
    db, client = fresh_stack.db, fresh_stack.client
    demo = seed_demo.seed(db, files=[SEASON])
    assert demo.created
    assert demo.tenant_key
    assert demo.matches == 380 + len(seed_demo.FIXTURES)
    headers = {"Authorization": f"Bearer {demo.tenant_key}"}
    strategy = client.get("/v1/strategies", headers=headers).json()["items"][0]
    upcoming = client.get("/v1/matches", params={"status": "scheduled"}, headers=headers).json()[
        "items"
    ]
    assert len(upcoming) == len(seed_demo.FIXTURES)
    match = upcoming[0]
    prices = client.get(f"/v1/matches/{match['id']}/odds", headers=headers).json()["items"]
    assert len(prices) == 3 * 4  # home/draw/away at four bookmakers
    quote = prices[0]
    bet = client.post(
        "/v1/bets",
        headers=idem(headers),
        json={
            "strategy_id": strategy["id"],
            "match_id": match["id"],
            "bookmaker_id": quote["bookmaker_id"],
            "market": quote["market"],
            "selection": quote["selection"],
            "stake": "25.00",
            "price": quote["price"],
        },
    )
    assert bet.status_code == 201, bet.text
    profile_team = upcoming[0]["home_team"]["id"]
    assert client.get(f"/v1/teams/{profile_team}/profile", headers=headers).status_code == 200
    again = seed_demo.seed(db, files=[SEASON])
    assert not again.created
