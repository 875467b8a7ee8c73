"""Finding a PostgreSQL to use on a developer's machine: configured, local, or embedded."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import URL, make_url

from backend.core.config import Settings
from backend.scripts.embedded import EmbeddedPostgres

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_DIR = PROJECT_ROOT / ".data" / "pg"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_PARTS = {"database_url", "db_host", "db_port", "db_user", "db_password", "db_name"}
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def libpq_dsn(url: str | URL) -> str:
    """A psycopg2 DSN for a SQLAlchemy-style URL (the driver suffix removed)."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def can_connect(url: str | URL, timeout: int = 2) -> bool:
    try:
        conn = psycopg2.connect(libpq_dsn(url), connect_timeout=timeout)
    except psycopg2.Error:
        return False
    conn.close()
    return True


def configured_url(settings: Settings) -> URL | None:
    """The database the user configured (DATABASE_URL or any DB_* setting), if any."""
    if settings.model_fields_set & DB_PARTS:
        return settings.sqlalchemy_url
    return None


def _admin_conn(server_url: str | URL) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(libpq_dsn(server_url), connect_timeout=5)
    conn.autocommit = True
    return conn


def ensure_database(server_url: str | URL, name: str) -> None:
    assert _SAFE_NAME.match(name), name
    conn = _admin_conn(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def drop_database(server_url: str | URL, name: str) -> None:
    assert _SAFE_NAME.match(name), name
    conn = _admin_conn(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def with_database(url: str | URL, name: str) -> URL:
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(database=name, drivername="postgresql+psycopg2")


def embedded() -> EmbeddedPostgres:
    return EmbeddedPostgres(EMBEDDED_DIR)
