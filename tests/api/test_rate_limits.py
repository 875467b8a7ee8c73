"""Per-key rate limits: a token bucket per API key, set per tenant, 429 with Retry-After and
the RateLimit fields, shared by every worker through Redis."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.core.config import Settings
from backend.core.database import create_database
from tests.helpers import (
    REDIS_URL,
    assert_problem,
    bet_body,
    count_rows,
    idem,
    make_strategy,
    redis_up,
    unique,
)

SLOW = "0.001"  # a token every 1000 s: within a test only the burst counts


def _tenant(
    client: TestClient, admin: dict[str, str], per_s: str | None, burst: int | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A new tenant with its own rate limit (unless both are None) and its key's headers."""
    response = client.post("/v1/admin/tenants", json={"name": unique("Limited")}, headers=admin)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    if per_s is not None or burst is not None:
        limit = client.put(
            f"/v1/admin/tenants/{made['id']}/rate-limit",
            json={"per_s": per_s, "burst": burst},
            headers=admin,
        )
        assert limit.status_code == 200, limit.text
    return made, {"Authorization": f"Bearer {made['api_key']['key']}"}


def _strategies(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/v1/strategies", headers=headers)


def test_a_burst_then_429_with_retry_after_and_ratelimit_fields(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    tenant, key = _tenant(client, admin_headers, "0.5", 3)
    limit = client.get(f"/v1/admin/tenants/{tenant['id']}/rate-limit", headers=admin_headers)
    assert limit.json() == {
        "per_s": "0.500",
        "burst": 3,
        "effective": {"per_s": "0.500", "burst": 3},
    }
    seen = [_strategies(client, key) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["ratelimit"] for r in seen][-1].startswith('"key";r=0;t=')
    assert seen[0].headers["ratelimit-policy"] == '"key";q=3;w=6'
    assert seen[0].headers["ratelimit"].startswith('"key";r=2;')
    refused = _strategies(client, key)
    problem = assert_problem(refused, 429, "rate-limited")
    assert refused.headers["retry-after"] == "2"  # one token at 0.5 a second
    assert refused.headers["ratelimit-policy"] == '"key";q=3;w=6'
    assert "0.5 requests a second" in problem["detail"]
    # The tenant's other key has a bucket of its own; other tenants and the admin are free.
    other_key = client.post(
        f"/v1/admin/tenants/{tenant['id']}/api-keys", json={"name": "second"}, headers=admin_headers
    ).json()
    assert _strategies(client, {"Authorization": f"Bearer {other_key['key']}"}).status_code == 200
    _, free = _tenant(client, admin_headers, None, None)
    for _ in range(10):
        answer = _strategies(client, free)
        assert answer.status_code == 200 and "ratelimit" not in answer.headers
    assert client.get("/v1/admin/tenants", headers=admin_headers).status_code == 200


def test_a_refused_request_changes_nothing(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, market: dict[str, Any]
) -> None:
    _, key = _tenant(client, admin_headers, SLOW, 2)
    strategy = make_strategy(client, key)  # the first token
    body = bet_body(strategy["id"], **market)
    assert client.post("/v1/bets", json=body, headers=idem(key)).status_code == 201  # the second
    assert_problem(client.post("/v1/bets", json=body, headers=idem(key)), 429, "rate-limited")
    bets = count_rows(
        raw_engine, "SELECT count(*) FROM bets WHERE strategy_id=:s", s=strategy["id"]
    )
    assert bets == 1


def test_a_changed_limit_applies_at_once(client: TestClient, admin_headers: dict[str, str]) -> None:
    tenant, key = _tenant(client, admin_headers, SLOW, 1)
    url = f"/v1/admin/tenants/{tenant['id']}/rate-limit"
    assert _strategies(client, key).status_code == 200
    assert_problem(_strategies(client, key), 429)
    raised = client.put(url, json={"per_s": "1000", "burst": 1000}, headers=admin_headers)
    assert raised.status_code == 200 and raised.json()["burst"] == 1000
    assert _strategies(client, key).status_code == 200
    lifted = client.put(url, json={}, headers=admin_headers)
    assert lifted.json() == {"per_s": None, "burst": None, "effective": None}
    assert "ratelimit" not in _strategies(client, key).headers  # the deployment's: none
    version = client.get(f"/v1/admin/tenants/{tenant['id']}", headers=admin_headers).json()
    assert version["version"] == 4  # created, limited, raised, lifted: each a change
    for bad in ({"per_s": "0"}, {"burst": 0}, {"per_s": "1e3"}, {"per_s": "1.0001"}, {"x": 1}):
        assert_problem(client.put(url, json=bad, headers=admin_headers), 422)
    assert_problem(client.put(url, json={}, headers=key), 403)
    missing = "/v1/admin/tenants/00000000-0000-4000-8000-000000000000/rate-limit"
    assert_problem(client.put(missing, json={}, headers=admin_headers), 404)


def test_the_deployments_default_applies_to_tenants_without_their_own(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    from backend.api.app import create_app

    limited = settings.model_copy(update={"rate_limit_per_s": 0.001, "rate_limit_burst": 2})
    db = create_database(limited)
    try:
        with TestClient(create_app(limited, db)) as app:
            tenant, key = _tenant(app, admin_headers, None, None)
            answers = [_strategies(app, key).status_code for _ in range(3)]
            assert answers == [200, 200, 429]
            limit = app.get(f"/v1/admin/tenants/{tenant['id']}/rate-limit", headers=admin_headers)
            assert limit.json()["effective"] == {"per_s": "0.001", "burst": 2}
            # The tenant's own burst, the deployment's rate.
            own = app.put(
                f"/v1/admin/tenants/{tenant['id']}/rate-limit",
                json={"burst": 5},
                headers=admin_headers,
            )
            assert own.json()["effective"] == {"per_s": "0.001", "burst": 5}
    finally:
        db.dispose()


@pytest.mark.parametrize("round_", range(20))
def test_concurrent_requests_never_take_more_than_the_burst(
    round_: int, client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, key = _tenant(client, admin_headers, SLOW, 7)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(lambda _: _strategies(client, key).status_code, range(24)))
    assert statuses == {200: 7, 429: 17}


@contextmanager
def _two_workers(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    from backend.api.app import create_app

    dbs = [create_database(settings) for _ in range(2)]
    try:
        with (
            TestClient(create_app(settings, dbs[0])) as a,
            TestClient(create_app(settings, dbs[1])) as b,
        ):
            yield a, b
    finally:
        for db in dbs:
            db.dispose()


def test_workers_share_a_bucket_through_redis(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    if not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one)")
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    with _two_workers(shared) as (a, b):
        _, key = _tenant(a, admin_headers, SLOW, 4)
        answers = [c.get("/v1/strategies", headers=key).status_code for c in (a, b, a, b, a, b)]
        assert answers == [200, 200, 200, 200, 429, 429]


def test_without_redis_each_worker_has_its_own_bucket(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    with _two_workers(settings) as (a, b):
        _, key = _tenant(a, admin_headers, SLOW, 2)
        answers = [c.get("/v1/strategies", headers=key).status_code for c in (a, a, a, b, b, b)]
        assert answers == [200, 200, 429, 200, 200, 429]


def test_a_redis_outage_falls_back_to_the_workers_bucket(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    broken = settings.model_copy(update={"redis_url": dead, "cache_listen": True})
    from backend.api.app import create_app

    db = create_database(broken)
    try:
        with TestClient(create_app(broken, db)) as app:
            _, key = _tenant(app, admin_headers, SLOW, 2)
            started = time.monotonic()
            answers = [app.get("/v1/strategies", headers=key).status_code for _ in range(3)]
            assert answers == [200, 200, 429]
            assert time.monotonic() - started < 5  # connect timeouts, never a hang
    finally:
        db.dispose()


def test_two_workers_racing_on_one_redis_bucket_take_exactly_the_burst(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    if not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one)")
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    with _two_workers(shared) as (a, b), ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):
            _, key = _tenant(a, admin_headers, SLOW, 5)
            statuses = Counter(
                pool.map(
                    lambda i, key=key: (a, b)[i % 2].get("/v1/strategies", headers=key).status_code,
                    range(16),
                )
            )
            assert statuses == {200: 5, 429: 11}
