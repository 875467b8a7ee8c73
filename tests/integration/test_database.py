"""Engine, pool and connection behaviour against a real server."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text

from backend.core.config import Settings
from backend.core.database import Database, create_database
from backend.core.pool import check_connection
from tests.conftest import APP_NAME
from tests.helpers import POOL_FIELDS, captured_logs


def test_each_connection_carries_timeouts_name_and_utc(db: Database, settings: Settings) -> None:
    with db.engine.connect() as conn:
        got = {
            name: conn.execute(
                text("SELECT setting FROM pg_settings WHERE name = :n"), {"n": name}
            ).scalar_one()
            for name in ("statement_timeout", "lock_timeout", "application_name", "TimeZone")
        }
    assert got == {
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "lock_timeout": str(settings.db_lock_timeout_ms),
        "application_name": APP_NAME,
        "TimeZone": "UTC",
    }


def test_pool_status_reports_every_field(db: Database, settings: Settings) -> None:
    with db.engine.connect():
        status = db.pool_status()
        assert status["checked_out"] >= 1
    assert set(status) == POOL_FIELDS
    assert status["size"] == settings.db_pool_size
    assert status["max_overflow"] == settings.db_max_overflow
    assert status["timeout_s"] == settings.db_pool_timeout
    assert status["overflow"] >= 0


def test_check_connection_reports_latency_and_version(db: Database) -> None:
    result = check_connection(db.engine)
    assert result["ok"] is True
    assert result["latency_ms"] is not None and result["latency_ms"] >= 0
    assert result["server_version"] and int(result["server_version"].split(".")[0]) >= 15


def test_check_connection_fails_fast_when_unreachable() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", db_connect_timeout=1)
    db = create_database(settings)
    try:
        result = check_connection(db.engine, timeout_s=2.0)
    finally:
        db.dispose()
    assert result["ok"] is False and result["error"]


def test_slow_statements_are_logged_with_duration_but_never_parameters(
    settings: Settings,
) -> None:
    slow = create_database(settings.model_copy(update={"db_slow_query_ms": 50}))
    secret = "hunter2-not-for-logs"
    try:
        with captured_logs("oddsdesk.db", logging.WARNING) as logged, slow.engine.connect() as c:
            c.execute(text("SELECT pg_sleep(0.1), CAST(:p AS text)"), {"p": secret})
    finally:
        slow.dispose()
    records = [r for r in logged if r.getMessage() == "slow statement"]
    assert len(records) == 1
    assert records[0].duration_ms >= 100  # type: ignore[attr-defined]
    assert "pg_sleep" in records[0].statement  # type: ignore[attr-defined]
    assert all(secret not in str(r.__dict__) for r in logged)


def test_idle_connections_killed_by_the_server_cost_no_request(
    client: object, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    for _ in range(5):
        assert client.get("/v1/teams?limit=1", headers=admin_headers).status_code == 200
    with raw_engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :app AND pid <> pg_backend_pid()"
            ),
            {"app": APP_NAME},
        ).scalar_one()
    assert killed >= 1
    statuses = [
        client.get("/v1/teams?limit=1", headers=admin_headers).status_code for _ in range(20)
    ]
    assert statuses == [200] * 20
