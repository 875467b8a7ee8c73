"""The first-start demo: loads once, and leaves a tenant who can bet at once."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from backend.core.database import Database
from backend.scripts import seed_demo
from tests.helpers import idem

SEASON = Path(__file__).resolve().parents[2] / "data" / "football-data" / "E0_2024-25.csv"


def test_demo_seed_is_usable_and_runs_once(
    db: Database, client: TestClient, admin_headers: dict[str, str], monkeypatch: object
) -> None:
    # The shared test database already has matches: pretend it is empty for the first call.
    calls = {"n": 0}
    real_count = seed_demo._count_matches

    def fake_count(database: Database) -> int:
        calls["n"] += 1
        return 0 if calls["n"] == 1 else real_count(database)

    monkeypatch.setattr(seed_demo, "_count_matches", fake_count)  # type: ignore[attr-defined]
    demo = seed_demo.seed(db, files=[SEASON])
    assert demo.created
    assert demo.tenant_key
    headers = {"Authorization": f"Bearer {demo.tenant_key}"}
    strategy = client.get("/v1/strategies", headers=headers).json()["items"][0]
    upcoming = client.get(
        "/v1/matches",
        params={
            "status": "scheduled",
            "kickoff_from": "2026-01-01T00:00:00Z",
            "league": "Premier League",
            "limit": 500,
        },
        headers=headers,
    ).json()["items"]
    assert len(upcoming) >= len(seed_demo.FIXTURES)
    match = upcoming[-1]
    prices = client.get(f"/v1/matches/{match['id']}/odds", headers=headers).json()["items"]
    assert prices, "demo fixtures come with current prices"
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
    again = seed_demo.seed(db, files=[SEASON])
    assert not again.created
