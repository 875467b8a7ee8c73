from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.core.config import Settings
from backend.core.database import create_database
from backend.core.metrics import REGISTRY
from backend.repositories.reference import TeamRepository
from tests.helpers import POOL_FIELDS, assert_problem, make_team


def test_live_needs_nothing(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_reports_database_and_pool(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] is True
    assert body["database"]["latency_ms"] >= 0
    assert set(body["pool"]) == POOL_FIELDS


def test_admin_pool_matches_ready_shape(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_problem(client.get("/v1/admin/pool"), 401)
    response = client.get("/v1/admin/pool", headers=admin_headers)
    assert response.status_code == 200 and set(response.json()) == POOL_FIELDS


def test_connection_killed_mid_request_is_503_then_recovers(
    client: TestClient,
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    raw_engine: Engine,
) -> None:
    team = make_team(client, admin_headers)
    original = TeamRepository.read

    def killed_then_read(self: TeamRepository, ident: object) -> object:
        # The request's unit of work has run a statement; its server process is killed from
        # outside before the team is read.
        pid = self.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with raw_engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return original(self, ident)

    monkeypatch.setattr(TeamRepository, "read", killed_then_read)
    response = client.get(f"/v1/teams/{team['id']}", headers=admin_headers)
    body = assert_problem(response, 503, "database-unavailable")
    assert response.headers["retry-after"].isdigit()
    assert "terminat" not in body["detail"]
    monkeypatch.setattr(TeamRepository, "read", original)
    assert client.get(f"/v1/teams/{team['id']}", headers=admin_headers).status_code == 200


def test_pool_exhausted_is_503_after_the_pool_timeout_then_recovers(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    from backend.api.app import create_app

    tiny = create_database(
        settings.model_copy(
            update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.5}
        )
    )
    try:
        with TestClient(create_app(settings, tiny), raise_server_exceptions=False) as client:
            counted = (
                REGISTRY.get_sample_value("oddsdesk_db_errors_total", {"kind": "pool_timeout"})
                or 0.0
            )
            held = tiny.engine.connect()  # the only connection, taken
            started = time.monotonic()
            response = client.get("/v1/teams", headers=admin_headers)
            elapsed = time.monotonic() - started
            body = assert_problem(response, 503, "database-unavailable")
            assert "busy" in body["detail"]
            assert response.headers["retry-after"] == "1"
            assert elapsed < 0.5 + 1.0
            assert (
                REGISTRY.get_sample_value("oddsdesk_db_errors_total", {"kind": "pool_timeout"})
                == counted + 1
            )
            held.close()
            assert client.get("/v1/teams", headers=admin_headers).status_code == 200
    finally:
        tiny.dispose()


def test_openapi_documents_bearer_auth_and_problem_responses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    create = schema["paths"]["/v1/teams"]["post"]
    assert create["security"] == [{"bearerAuth": []}]
    assert {"401", "403", "409", "422", "503"} <= set(create["responses"])
    assert "application/problem+json" in create["responses"]["409"]["content"]
    assert "security" not in schema["paths"]["/health/live"]["get"]
