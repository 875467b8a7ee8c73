"""Money under concurrency: real threads, real commits, one live app."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import bet_body, count_rows, idem, make_strategy


def test_two_hundred_bets_against_a_bankroll_of_one_hundred_stakes(
    client: TestClient,
    tenant_headers: dict[str, str],
    market: dict[str, Any],
    raw_engine: Engine,
) -> None:
    strategy = make_strategy(client, tenant_headers, bankroll="1000.00", max_stake="10.00")
    body = bet_body(strategy["id"], **market, stake="10.00")

    def place(_: int) -> tuple[int, str]:
        response = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
        slug = (
            response.json().get("type", "").rsplit("/", 1)[-1]
            if response.status_code != 201
            else ""
        )
        return response.status_code, slug

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = Counter(pool.map(place, range(200)))
    assert results == {(201, ""): 100, (409, "insufficient-bankroll"): 100}
    final = client.get(f"/v1/strategies/{strategy['id']}", headers=tenant_headers).json()
    assert final["bankroll"] == "0.00"
    assert final["version"] == 101
    bets = count_rows(
        raw_engine, "SELECT count(*) FROM bets WHERE strategy_id=:s", s=strategy["id"]
    )
    staked = count_rows(
        raw_engine,
        "SELECT coalesce(sum(stake), 0)::int FROM bets WHERE strategy_id=:s",
        s=strategy["id"],
    )
    audit_bets = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log a JOIN bets b ON "
        "a.entity_id = b.id::text WHERE a.entity_type='bet' AND "
        "b.strategy_id=:s",
        s=strategy["id"],
    )
    audit_debits = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE "
        "entity_type='strategy' AND entity_id=:s AND action='update'",
        s=strategy["id"],
    )
    assert (bets, staked, audit_bets, audit_debits) == (100, 1000, 100, 100)


def test_twenty_identical_requests_with_one_key_place_one_bet(
    client: TestClient,
    tenant_headers: dict[str, str],
    market: dict[str, Any],
    raw_engine: Engine,
) -> None:
    strategy = make_strategy(client, tenant_headers)
    headers = idem(tenant_headers)
    body = bet_body(strategy["id"], **market)

    def place(_: int) -> tuple[int, str]:
        response = client.post("/v1/bets", json=body, headers=headers)
        return response.status_code, response.headers.get("idempotent-replayed", "")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = Counter(pool.map(place, range(20)))
    # One original; every other answer is either its replay or "in flight, retry".
    assert results[(201, "")] == 1
    assert set(results) <= {(201, ""), (201, "true"), (409, "")}
    assert (
        count_rows(raw_engine, "SELECT count(*) FROM bets WHERE strategy_id=:s", s=strategy["id"])
        == 1
    )
    final = client.get(f"/v1/strategies/{strategy['id']}", headers=tenant_headers).json()
    assert (final["bankroll"], final["version"]) == ("990.00", 2)


def test_concurrent_patches_with_one_etag_give_one_200_and_one_412(
    client: TestClient, tenant_headers: dict[str, str]
) -> None:
    strategy = make_strategy(client, tenant_headers)
    url = f"/v1/strategies/{strategy['id']}"
    for round_ in range(5):
        version = client.get(url, headers=tenant_headers).json()["version"]
        headers = {**tenant_headers, "If-Match": f'"{version}"'}

        def patch(i: int, headers: dict[str, str] = headers, round_: int = round_) -> int:
            return client.patch(
                url, json={"description": f"r{round_} w{i}"}, headers=headers
            ).status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            assert sorted(pool.map(patch, range(2))) == [200, 412]


def test_a_locked_strategy_fails_fast_with_503_while_others_are_served(
    settings: Any, raw_engine: Engine, admin_headers: dict[str, str]
) -> None:
    import time

    from sqlalchemy import text

    from backend.api.app import create_app
    from backend.core.database import create_database
    from tests.helpers import make_bookmaker, make_match, make_tenant

    quick = settings.model_copy(update={"db_lock_timeout_ms": 300})
    db = create_database(quick)
    try:
        with TestClient(create_app(quick, db), raise_server_exceptions=False) as client:
            _, headers = make_tenant(client, admin_headers)
            match = make_match(client, admin_headers, kickoff_at="2035-06-01T15:00:00Z")
            book = make_bookmaker(client, admin_headers)
            locked, free = make_strategy(client, headers), make_strategy(client, headers)
            with raw_engine.connect() as holder:
                holder.execute(
                    text("SELECT 1 FROM strategies WHERE id = :s FOR UPDATE"), {"s": locked["id"]}
                )
                started = time.monotonic()
                blocked = client.post(
                    "/v1/bets",
                    json=bet_body(locked["id"], match["id"], book["id"]),
                    headers=idem(headers),
                )
                waited = time.monotonic() - started
                served = client.post(
                    "/v1/bets",
                    json=bet_body(free["id"], match["id"], book["id"]),
                    headers=idem(headers),
                )
                holder.rollback()
            assert blocked.status_code == 503, blocked.text
            assert blocked.headers["retry-after"]
            assert "locked" in blocked.json()["detail"]
            assert waited < 0.3 + 1.0
            assert served.status_code == 201
            after = client.get(f"/v1/strategies/{locked['id']}", headers=headers).json()
            assert after["bankroll"] == "1000.00"
    finally:
        db.dispose()
