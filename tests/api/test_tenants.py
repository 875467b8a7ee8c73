"""Tenants and API keys: shown once, stored hashed, revocable, deactivatable."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.core.invalidation import CURRENT_FOR_S
from tests.helpers import assert_problem, count_rows, make_team, make_tenant, unique


def test_create_tenant_shows_the_key_once_and_stores_only_its_hash(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    name = unique("Acme")
    response = client.post("/v1/admin/tenants", json={"name": name}, headers=admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/admin/tenants/{body['id']}"
    assert set(body) == {"id", "name", "is_active", "created_at", "api_key"}
    assert body["api_key"]["name"] == "default"
    secret = body["api_key"]["key"]
    assert len(secret) >= 43  # 256 bits, url-safe base64
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert count_rows(raw_engine, "SELECT count(*) FROM api_keys WHERE key_hash=:h", h=digest) == 1
    assert count_rows(raw_engine, "SELECT count(*) FROM api_keys WHERE key_hash=:s", s=secret) == 0
    fetched = client.get(f"/v1/admin/tenants/{body['id']}", headers=admin_headers).json()
    assert set(fetched) == {"id", "name", "is_active", "created_at", "updated_at", "version"}
    assert secret not in str(fetched)
    clash = client.post("/v1/admin/tenants", json={"name": name.upper()}, headers=admin_headers)
    assert_problem(clash, 409)


def test_admin_routes_refuse_tenant_keys_and_tenant_routes_refuse_admin(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, tenant = make_tenant(client, admin_headers)
    assert_problem(client.get("/v1/admin/tenants", headers=tenant), 403)
    assert_problem(client.get("/v1/admin/pool", headers=tenant), 403)
    assert_problem(client.post("/v1/teams", json={"name": unique("T")}, headers=tenant), 403)
    assert_problem(client.get("/v1/strategies", headers=admin_headers), 403)
    assert_problem(client.get("/v1/bets", headers=admin_headers), 403)
    assert_problem(client.get("/v1/audit", headers=admin_headers), 403)
    assert_problem(client.get("/v1/leaderboard", headers=admin_headers), 403)
    # Reference reads accept any valid key.
    assert client.get("/v1/teams", headers=tenant).status_code == 200


def test_extra_key_works_and_revoked_key_is_401_and_audited(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    tenant, _ = make_tenant(client, admin_headers)
    created = client.post(
        f"/v1/admin/tenants/{tenant['id']}/api-keys",
        json={"name": "ingest-bot"},
        headers=admin_headers,
    )
    assert created.status_code == 201
    assert set(created.json()) == {"id", "name", "key"}
    bot = {"Authorization": f"Bearer {created.json()['key']}"}
    strategy = client.post(
        "/v1/strategies", json={"name": unique("S"), "bankroll": 1, "max_stake": 1}, headers=bot
    )
    assert strategy.json()["created_by"] == "ingest-bot"
    key_id = created.json()["id"]
    assert client.delete(f"/v1/admin/api-keys/{key_id}", headers=admin_headers).status_code == 204
    assert_problem(client.get("/v1/strategies", headers=bot), 401)
    assert_problem(client.delete(f"/v1/admin/api-keys/{key_id}", headers=admin_headers), 404)
    audited = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE entity_type='api_key' "
        "AND entity_id=:k AND action='delete' AND tenant_id IS NULL",
        k=key_id,
    )
    assert audited == 1
    assert_problem(
        client.post(
            "/v1/admin/tenants/00000000-0000-0000-0000-000000000000/api-keys",
            json={"name": "x"},
            headers=admin_headers,
        ),
        404,
    )


def test_deactivated_tenant_gets_403_tenant_inactive_until_reactivated(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    url = f"/v1/admin/tenants/{tenant['id']}"
    off = client.patch(url, json={"is_active": False}, headers={**admin_headers, "If-Match": '"1"'})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert_problem(client.get("/v1/strategies", headers=headers), 403, "tenant-inactive")
    on = client.patch(url, json={"is_active": True}, headers={**admin_headers, "If-Match": '"2"'})
    assert on.status_code == 200
    assert client.get("/v1/strategies", headers=headers).status_code == 200


def test_tenant_list_is_ordered_by_creation(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    first, _ = make_tenant(client, admin_headers)
    second, _ = make_tenant(client, admin_headers)
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/admin/tenants", params=params, headers=admin_headers).json()
        ids += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids.index(first["id"]) < ids.index(second["id"])
    assert_problem(client.get("/v1/admin/tenants/not-a-uuid", headers=admin_headers), 422)
    assert_problem(
        client.get("/v1/admin/tenants/00000000-0000-0000-0000-000000000000", headers=admin_headers),
        404,
    )


def _refused_within(
    worker: TestClient, url: str, headers: dict[str, str], status: int, seconds: float
) -> Any:
    """Poll until `worker` refuses the request (the answer), or `seconds` pass (the last)."""
    deadline = time.monotonic() + seconds
    while True:
        response = worker.get(url, headers=headers)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.01)


@pytest.mark.parametrize("listening", [False, True], ids=["no-listener", "listener"])
def test_revocation_and_deactivation_reach_another_worker_with_a_warm_cache(
    listening: bool, client: TestClient, admin_headers: dict[str, str], settings: Any
) -> None:
    """Two app instances (two workers): one revokes, the other had the key cached.

    A request that touches the database is refused at once (the key check rides with its
    first statement). One the worker answers from its cache alone is refused at once without
    a listener (the worker then checks the key on its own), and with one as soon as
    PostgreSQL's announcement of the change is applied: within CURRENT_FOR_S at the latest."""
    from backend.api.app import create_app
    from backend.core.database import create_database

    own = settings.model_copy(update={"cache_listen": listening})
    # Without a listener: refused by the very next request; with one: within its bound.
    bound = CURRENT_FOR_S if listening else 0.0
    other_db = create_database(own)
    try:
        with TestClient(create_app(own, other_db), raise_server_exceptions=False) as worker:
            caches = worker.app.state.caches  # type: ignore[attr-defined]
            deadline = time.monotonic() + 5
            while listening and not caches.current and time.monotonic() < deadline:
                time.sleep(0.01)
            assert caches.current is listening  # the path under test: announcements or checks
            gauge = f"oddsdesk_cache_invalidation_current {1.0 if listening else 0.0}"
            assert gauge in worker.get("/metrics").text
            tenant, headers = make_tenant(client, admin_headers)
            assert worker.get("/v1/strategies", headers=headers).status_code == 200  # cached
            # A read the worker can answer from its cache alone, with no statement of its own.
            team = f"/v1/teams/{make_team(client, admin_headers)['id']}"
            assert worker.get(team, headers=headers).status_code == 200
            url = f"/v1/admin/tenants/{tenant['id']}"
            client.patch(
                url, json={"is_active": False}, headers={**admin_headers, "If-Match": '"1"'}
            )
            assert_problem(_refused_within(worker, team, headers, 403, bound), 403)
            assert_problem(worker.get("/v1/strategies", headers=headers), 403, "tenant-inactive")
            client.patch(
                url, json={"is_active": True}, headers={**admin_headers, "If-Match": '"2"'}
            )
            assert worker.get("/v1/strategies", headers=headers).status_code == 200
            assert worker.get(team, headers=headers).status_code == 200  # cached again
            key_id = tenant["api_key"]["id"]
            assert (
                client.delete(f"/v1/admin/api-keys/{key_id}", headers=admin_headers).status_code
                == 204
            )
            assert_problem(_refused_within(worker, team, headers, 401, bound), 401)
            response = worker.get("/v1/strategies", headers=headers)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
    finally:
        other_db.dispose()
