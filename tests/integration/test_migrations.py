"""The migrations build the schema the models describe, and undo it completely."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from backend.models import Base
from backend.models.base import include_managed_schemas
from backend.scripts import localdb, migrate


@pytest.fixture
def scratch_url(server_url: URL) -> Iterator[URL]:
    name = f"oddsdesk_mig_{uuid.uuid4().hex[:10]}"
    localdb.ensure_database(server_url, name)
    try:
        yield localdb.with_database(server_url, name)
    finally:
        localdb.drop_database(server_url, name)


def _tables(url: URL) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(scratch_url: URL) -> None:
    migrate.upgrade(scratch_url)
    assert _tables(scratch_url) >= {"teams", "bookmakers", "matches", "audit_log"}
    migrate.downgrade(scratch_url, "base")
    assert _tables(scratch_url) == set()
    migrate.upgrade(scratch_url)
    assert _tables(scratch_url) >= {"teams", "bookmakers", "matches", "audit_log"}


def test_models_and_migrations_agree(raw_engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(raw_engine, Engine)
    with raw_engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_schemas": True,
                "include_name": include_managed_schemas,
            },
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_audit_log_is_append_only(raw_engine: object, statement: str) -> None:
    from sqlalchemy import Engine

    assert isinstance(raw_engine, Engine)
    with raw_engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (actor, action, entity_type, entity_id) "
                "VALUES ('t', 'create', 'team', '0')"
            )
        )
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement))
        conn.rollback()
