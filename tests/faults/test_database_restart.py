"""A PostgreSQL the test owns (embedded, its own data dir) is stopped and started under the app.

Promises checked (API.md, "database trouble"): every request answers 503 with Retry-After
within the pool timeout plus 1 s while the database is down (never a hang, never a 500);
/health/ready is 503 with its usual JSON shape, /health/live stays 200; once the database is
back, /health/ready is 200 within 5 s and requests succeed, without restarting the app.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.core.database import create_database
from backend.core.embedded import EmbeddedPostgres
from backend.scripts import localdb, migrate

ADMIN = "fault-admin-" + secrets.token_hex(8)
POOL_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def owned_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    data = Path(tmp_path_factory.mktemp("faults")) / "pg"
    server = EmbeddedPostgres(data, port=0)
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
    deadline = time.monotonic() + 5
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "not ready 5 s after the database came back"
        time.sleep(0.1)
    assert client.get(team_url, headers=_headers()).status_code == 200
    after = client.post("/v1/teams", json={"name": "After the outage"}, headers=_headers())
    assert after.status_code == 201
