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
