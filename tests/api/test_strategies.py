"""Strategies: creation rules, PATCH, kill and resume, performance, leaderboard."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import assert_problem, count_rows, make_strategy, unique


def _audits(engine: Engine, strategy_id: str, action: str | None = None) -> int:
    sql = "SELECT count(*) FROM audit_log WHERE entity_type='strategy' AND entity_id=:e"
    if action:
        sql += " AND action=:a"
    return count_rows(engine, sql, e=strategy_id, a=action)


def test_create_starts_active_with_initial_bankroll(
    client: TestClient, tenant_headers: dict[str, str]
) -> None:
    response = client.post(
        "/v1/strategies",
        json={"name": unique("S"), "bankroll": 1000, "max_stake": "25.5"},
        headers=tenant_headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["etag"] == '"1"'
    assert body["status"] == "active"
    assert (body["bankroll"], body["initial_bankroll"], body["max_stake"]) == (
        "1000.00",
        "1000.00",
        "25.50",
    )
    assert body["kill_reason"] is None


@pytest.mark.parametrize(
    "fields",
    [
        {"bankroll": -1},
        {"bankroll": "10.001"},
        {"max_stake": 0},
        {"max_stake": "-5"},
        {"bankroll": "1e308"},
        {"bankroll": "NaN"},
        {"bankroll": True},
        {"max_stake": None},
        {"name": ""},
        {"description": "d" * 1001},
        {"status": "killed"},
        {"version": 3},
    ],
)
def test_invalid_creation_is_422(
    client: TestClient, tenant_headers: dict[str, str], fields: dict[str, Any]
) -> None:
    body = {"name": unique("S"), "bankroll": "100", "max_stake": "10", **fields}
    assert_problem(client.post("/v1/strategies", json=body, headers=tenant_headers), 422)


def test_trailing_zeros_are_not_extra_places(
    client: TestClient, tenant_headers: dict[str, str]
) -> None:
    strategy = make_strategy(client, tenant_headers, bankroll="10.100", max_stake=1.5)
    assert strategy["bankroll"] == "10.10" and strategy["max_stake"] == "1.50"


def test_names_unique_per_tenant_case_insensitively(
    client: TestClient, tenant_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    from tests.helpers import make_tenant

    strategy = make_strategy(client, tenant_headers)
    clash = client.post(
        "/v1/strategies",
        json={"name": strategy["name"].upper(), "bankroll": 1, "max_stake": 1},
        headers=tenant_headers,
    )
    assert_problem(clash, 409)
    _, other = make_tenant(client, admin_headers)
    assert make_strategy(client, other, name=strategy["name"])["name"] == strategy["name"]


def test_patch_pauses_and_changes_limits_with_reason_audited(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    raw_engine: Engine,
) -> None:
    url = f"/v1/strategies/{strategy['id']}"
    assert_problem(client.patch(url, json={"status": "paused"}, headers=tenant_headers), 428)
    assert_problem(
        client.patch(url, json={"status": "killed"}, headers={**tenant_headers, "If-Match": '"1"'}),
        422,
    )
    assert_problem(
        client.patch(url, json={"bankroll": "1"}, headers={**tenant_headers, "If-Match": '"1"'}),
        422,
    )
    paused = client.patch(
        url,
        json={"status": "paused", "max_stake": "20"},
        headers={**tenant_headers, "If-Match": '"1"', "X-Change-Reason": "review"},
    )
    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["max_stake"], paused.json()["version"]) == (
        "paused",
        "20.00",
        2,
    )
    reason = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE entity_id=:e AND "
        "action='update' AND change_reason='review'",
        e=strategy["id"],
    )
    assert reason == 1


def test_kill_and_resume_are_idempotent_no_ops_when_repeated(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    raw_engine: Engine,
) -> None:
    url = f"/v1/strategies/{strategy['id']}"
    assert_problem(client.post(f"{url}/kill", json={}, headers=tenant_headers), 422)
    killed = client.post(f"{url}/kill", json={"reason": "drawdown limit"}, headers=tenant_headers)
    assert killed.status_code == 200
    assert (killed.json()["status"], killed.json()["kill_reason"], killed.json()["version"]) == (
        "killed",
        "drawdown limit",
        2,
    )
    again = client.post(f"{url}/kill", json={"reason": "again"}, headers=tenant_headers)
    assert again.status_code == 200 and again.json()["version"] == 2
    assert again.json()["kill_reason"] == "drawdown limit"
    assert _audits(raw_engine, strategy["id"], "kill") == 1
    assert_problem(
        client.patch(url, json={"description": "x"}, headers={**tenant_headers, "If-Match": '"2"'}),
        409,
        "strategy-killed",
    )
    resumed = client.post(f"{url}/resume", json={"reason": "fixed"}, headers=tenant_headers)
    assert resumed.status_code == 200
    assert (resumed.json()["status"], resumed.json()["version"]) == ("active", 3)
    assert (
        client.post(f"{url}/resume", json={"reason": "x"}, headers=tenant_headers).json()["version"]
        == 3
    )
    assert _audits(raw_engine, strategy["id"], "resume") == 1
    assert _audits(raw_engine, strategy["id"]) == 3  # create, kill, resume


def test_performance_of_a_fresh_strategy_and_empty_leaderboard(
    client: TestClient, tenant_headers: dict[str, str], strategy: dict[str, Any]
) -> None:
    perf = client.get(f"/v1/strategies/{strategy['id']}/performance", headers=tenant_headers)
    assert perf.status_code == 200
    assert perf.json() == {
        "bets": 0,
        "open": 0,
        "settled": 0,
        "void": 0,
        "staked": "0.00",
        "returned": "0.00",
        "pnl": "0.00",
        "roi": None,
        "avg_clv": None,
        "beat_closing_rate": None,
    }
    board = client.get("/v1/leaderboard", headers=tenant_headers)
    assert board.status_code == 200 and board.json() == {"items": []}
    assert_problem(client.get("/v1/leaderboard?limit=101", headers=tenant_headers), 422)


def test_list_filters_by_status(client: TestClient, tenant_headers: dict[str, str]) -> None:
    live = make_strategy(client, tenant_headers)
    dead = make_strategy(client, tenant_headers)
    client.post(f"/v1/strategies/{dead['id']}/kill", json={"reason": "r"}, headers=tenant_headers)
    killed = client.get("/v1/strategies", params={"status": "killed"}, headers=tenant_headers)
    ids = {s["id"] for s in killed.json()["items"]}
    assert dead["id"] in ids and live["id"] not in ids
