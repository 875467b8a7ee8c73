"""A PostgreSQL the test owns (embedded, its own data dir) is stopped and started under the app.

Promises checked (API.md, "database trouble"): every request answers 503 with Retry-After
within the pool timeout plus 1 s while the database is down (never a hang, never a 500);
/health/ready is 503 with its usual JSON shape, /health/live stays 200; once the database is
back, /health/ready is 200 within 5 s and requests succeed, without restarting the app.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.core.database import create_database
from backend.scripts import localdb, migrate
from backend.scripts.embedded import EmbeddedPostgres
from tests.helpers import make_bookmaker, make_match, make_strategy, make_tenant

ADMIN = "fault-admin-" + secrets.token_hex(8)
POOL_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def owned_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    data = Path(tmp_path_factory.mktemp("faults")) / "pg"
    with socket.socket() as probe:  # a port of its own, never the one `make run` uses
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = EmbeddedPostgres(data, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")


@pytest.fixture(scope="module")
def client(owned_server: EmbeddedPostgres) -> Iterator[TestClient]:
    from backend.api.app import create_app

    localdb.ensure_database(owned_server.url(), "faults")
    url = localdb.with_database(owned_server.url(), "faults")
    migrate.upgrade(url)
    settings = Settings(
        database_url=url.render_as_string(hide_password=False),
        admin_api_key=ADMIN,
        cursor_secret="faults-" + ADMIN,
        db_pool_timeout=POOL_TIMEOUT,
        db_connect_timeout=2,
    )
    db = create_database(settings)
    try:
        with TestClient(create_app(settings, db), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        db.dispose()


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def test_stopped_database_answers_503_fast_then_recovers_alone(
    owned_server: EmbeddedPostgres, client: TestClient
) -> None:
    created = client.post("/v1/teams", json={"name": "Before the outage"}, headers=_headers())
    assert created.status_code == 201
    team_url = f"/v1/teams/{created.json()['id']}"

    owned_server.stop("immediate")
    answers: list[Any] = []
    for method, path, body in [
        ("GET", team_url.replace(team_url, "/v1/matches"), None),
        ("POST", "/v1/teams", {"name": "During the outage"}),
        ("GET", "/v1/bookmakers", None),
    ] * 5:
        started = time.monotonic()
        response = client.request(method, path, json=body, headers=_headers())
        answers.append((response, time.monotonic() - started))
    for response, seconds in answers:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"]
        assert seconds < POOL_TIMEOUT + 1
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.headers["content-type"].startswith("application/json")
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["database"]["ok"] is False
    assert set(ready.json()["pool"]) >= {"size", "checked_out", "overflow"}
    assert client.get("/health/live").status_code == 200

    owned_server.start()
    back = time.monotonic()
    deadline = back + 5
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "not ready 5 s after the database came back"
        time.sleep(0.1)
    slowest = max(seconds for _, seconds in answers)
    print(
        f"\noutage: {len(answers)} requests, all 503, slowest {slowest * 1000:.0f} ms; "
        f"ready {(time.monotonic() - back) * 1000:.0f} ms after the restart"
    )
    assert client.get(team_url, headers=_headers()).status_code == 200
    after = client.post("/v1/teams", json={"name": "After the outage"}, headers=_headers())
    assert after.status_code == 201


def test_connections_killed_during_bets_lose_and_duplicate_nothing(
    owned_server: EmbeddedPostgres, client: TestClient
) -> None:
    """8 clients place 400 bets with their own keys, retrying a key on 503 or 409-in-flight,
    while every app connection is killed twice a second. Each key must end with exactly one
    bet; the bankroll must equal the initial one minus the stakes placed; one audit row each."""
    import threading
    from decimal import Decimal

    import psycopg2

    admin = _headers()
    _, headers = make_tenant(client, admin)
    match = make_match(
        client, admin, league="Faults", season="2035-36", kickoff_at="2035-09-01T15:00:00Z"
    )
    book = make_bookmaker(client, admin)
    strategy = make_strategy(client, headers, name="Under fire", bankroll="100000.00")

    keys = [f"fault-{i}" for i in range(400)]
    stakes = {k: Decimal(1 + i % 7) for i, k in enumerate(keys)}
    outcomes: dict[str, list[tuple[int, str | None]]] = {k: [] for k in keys}
    stop = threading.Event()
    kills = [0]

    def killer() -> None:
        while not stop.wait(0.5):
            conn = psycopg2.connect(localdb.libpq_dsn(owned_server.url()))
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = 'faults' AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                )
                kills[0] += cur.fetchone()[0]
            conn.close()

    def worker(mine: list[str]) -> None:
        for key in mine:
            body = {
                "strategy_id": strategy["id"],
                "match_id": match["id"],
                "bookmaker_id": book["id"],
                "market": "1x2",
                "selection": "home",
                "stake": str(stakes[key]),
                "price": "2.000",
            }
            for _ in range(50):
                response = client.post(
                    "/v1/bets", json=body, headers={**headers, "Idempotency-Key": key}
                )
                bet_id = response.json().get("id") if response.status_code == 201 else None
                outcomes[key].append((response.status_code, bet_id))
                if response.status_code == 201:
                    break
                time.sleep(0.02)

    hunter = threading.Thread(target=killer)
    hunter.start()
    workers = [threading.Thread(target=worker, args=(keys[i::8],)) for i in range(8)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    hunter.join()

    statuses = {status for attempts in outcomes.values() for status, _ in attempts}
    assert statuses <= {201, 409, 503}, statuses
    assert all(attempts[-1][0] == 201 for attempts in outcomes.values())
    assert kills[0] > 0
    retried = sum(1 for attempts in outcomes.values() for status, _ in attempts if status != 201)
    print(f"\nkilled {kills[0]} connections; {retried} attempts answered 503/409 and retried")
    conn = psycopg2.connect(localdb.libpq_dsn(localdb.with_database(owned_server.url(), "faults")))
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), coalesce(sum(stake), 0) FROM bets WHERE strategy_id = %s",
            (strategy["id"],),
        )
        count, staked = cur.fetchone()
        cur.execute("SELECT bankroll FROM strategies WHERE id = %s", (strategy["id"],))
        (bankroll,) = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM audit_log WHERE entity_type = 'bet' AND entity_id IN "
            "(SELECT id::text FROM bets WHERE strategy_id = %s)",
            (strategy["id"],),
        )
        (audited,) = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'faults' "
            "AND state = 'idle in transaction'"
        )
        (stuck,) = cur.fetchone()
    conn.close()
    assert count == len(keys)
    assert staked == sum(stakes.values())
    assert bankroll == Decimal("100000.00") - staked
    assert audited == len(keys)
    assert stuck == 0
    # Every key's replays and retries name one bet only.
    for attempts in outcomes.values():
        assert len({bet_id for status, bet_id in attempts if status == 201}) == 1


def _app_connections(server: EmbeddedPostgres) -> tuple[int, int]:
    """(connections of the app, of which idle in transaction) on the owned server."""
    import psycopg2

    conn = psycopg2.connect(localdb.libpq_dsn(server.url()))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'idle in transaction') "
            "FROM pg_stat_activity WHERE datname = 'faults' "
            "AND backend_type = 'client backend'"
        )
        total, stuck = cur.fetchone()
    conn.close()
    return int(total), int(stuck)


def test_all_idle_connections_killed_cost_no_request(
    owned_server: EmbeddedPostgres, client: TestClient
) -> None:
    import psycopg2

    for _ in range(20):  # fill the pool
        assert client.get("/v1/teams", headers=_headers()).status_code == 200
    conn = psycopg2.connect(localdb.libpq_dsn(owned_server.url()))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = 'faults' AND backend_type = 'client backend'"
        )
        (killed,) = cur.fetchone()
    conn.close()
    assert killed >= 1
    statuses = [client.get("/v1/teams", headers=_headers()).status_code for _ in range(100)]
    assert statuses == [200] * 100


def test_after_the_faults_no_connection_is_stuck_or_beyond_the_pool(
    owned_server: EmbeddedPostgres, client: TestClient
) -> None:
    """Runs after the other fault scenarios of this module (file order)."""
    total, stuck = _app_connections(owned_server)
    assert stuck == 0
    assert total <= 5 + 10  # DB_POOL_SIZE + DB_MAX_OVERFLOW
    assert client.get("/health/ready").status_code == 200
