"""Test set-up: a fresh database per run, built with `alembic upgrade head`, dropped at the end.

Server: TEST_DATABASE_URL, else the local PostgreSQL on 127.0.0.1:5432 if it answers, else the
embedded one under .data/pg (started if needed, stopped only if this run started it).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import sessionmaker

from backend.core.config import Settings
from backend.core.database import Database, create_database
from backend.core.principal import ADMIN
from backend.core.unit_session import UnitSession
from backend.repositories.unit_of_work import UnitOfWork
from backend.scripts import localdb, migrate

ADMIN_KEY = "test-admin-" + secrets.token_hex(16)
CURSOR_SECRET = secrets.token_urlsafe(32)
APP_NAME = "oddsdesk-test"


def _resolve_server() -> tuple[URL, Any]:
    """TEST_DATABASE_URL; else TEST_DATABASE=embedded forces the embedded PostgreSQL (what a
    fresh machine gets, CI's second run); else the local server on 127.0.0.1:5432 if it
    answers; else the embedded one."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return localdb.with_database(explicit, "postgres"), None
    forced = os.environ.get("TEST_DATABASE", "")
    if forced not in ("", "embedded", "local"):
        raise pytest.UsageError(f"TEST_DATABASE={forced!r}: use embedded or local")
    if forced != "embedded" and (forced == "local" or localdb.can_connect(localdb.LOCAL_SERVER)):
        return localdb.with_database(localdb.LOCAL_SERVER, "postgres"), None
    server = localdb.embedded()
    server.start()
    return localdb.with_database(server.url(), "postgres"), server


@pytest.fixture(scope="session")
def server_url() -> Iterator[URL]:
    url, server = _resolve_server()
    yield url
    if server is not None and server.started_here:
        server.stop()


@pytest.fixture(scope="session")
def database_url(server_url: URL) -> Iterator[URL]:
    name = f"oddsdesk_test_{uuid.uuid4().hex[:12]}"
    localdb.ensure_database(server_url, name)
    url = localdb.with_database(server_url, name)
    migrate.upgrade(url)
    os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
    os.environ["ADMIN_API_KEY"] = ADMIN_KEY
    os.environ["CURSOR_SECRET"] = CURSOR_SECRET
    os.environ["APP_ENV"] = "test"
    try:
        yield url
    finally:
        localdb.drop_database(server_url, name)


@pytest.fixture(scope="session")
def settings(database_url: URL) -> Settings:
    return Settings(
        database_url=database_url.render_as_string(hide_password=False),
        admin_api_key=ADMIN_KEY,
        cursor_secret=CURSOR_SECRET,
        app_env="test",
        db_pool_size=5,
        db_max_overflow=10,
        db_pool_timeout=5,
        db_application_name=APP_NAME,
    )


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Database]:
    database = create_database(settings)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, db: Database) -> Any:
    from backend.api.app import create_app

    return create_app(settings, db)


@pytest.fixture(scope="session")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


# -- integration tier: each test inside an outer transaction, rolled back -------------------


@pytest.fixture
def connection(db: Database) -> Iterator[Connection]:
    conn = db.engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[UnitSession]:
    """Sessions joined to the test's outer transaction: their commits are savepoints."""
    return sessionmaker(
        bind=connection,
        class_=UnitSession,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
    )


@pytest.fixture
def uow(session_factory: sessionmaker[UnitSession]) -> UnitOfWork:
    return UnitOfWork(session_factory, ADMIN, request_id="test-request")


@pytest.fixture(scope="session")
def raw_engine(database_url: URL) -> Iterator[Engine]:
    """A separate engine for assertions and sabotage, outside the app's pool."""
    engine = create_engine(database_url, pool_size=2)
    yield engine
    engine.dispose()
