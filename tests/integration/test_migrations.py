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


def test_partitioning_the_history_keeps_every_row_and_id_both_ways(scratch_url: URL) -> None:
    """0015 rebuilds odds_snapshots and audit_log as yearly partitions and back: the rows, their
    ids and the next id survive both ways, and each row lands in its year's partition."""
    migrate.upgrade(scratch_url, "0014")
    engine = create_engine(scratch_url, poolclass=pool.NullPool)
    odds = "SELECT id, captured_at, price FROM odds_snapshots ORDER BY id"
    audit = "SELECT id, occurred_at, entity_id FROM audit_log ORDER BY occurred_at"
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO teams (name) VALUES ('Home FC'), ('Away FC')"))
            conn.execute(text("INSERT INTO bookmakers (name) VALUES ('Book')"))
            match = conn.execute(
                text(
                    "INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at)"
                    " SELECT 'L', '2019-20', min(id), max(id), '2019-08-10 15:00Z' FROM teams "
                    "RETURNING id"
                )
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO odds_snapshots (match_id, bookmaker_id, market, selection, "
                    "price, captured_at) SELECT :m, (SELECT id FROM bookmakers), '1x2', 'home', "
                    "p, t FROM (VALUES (2.1, timestamptz '1999-03-01Z'), "
                    "(2.2, '2019-08-09Z'), (2.3, '2019-08-10Z')) v (p, t)"
                ),
                {"m": match},
            )
            conn.execute(
                text(
                    "INSERT INTO audit_log (tenant_id, actor, action, entity_type, entity_id, "
                    "occurred_at) VALUES (gen_random_uuid(), 'a', 'create', 'bet', 'b1', "
                    "'2021-05-01Z'), (NULL, 'a', 'create', 'team', 't1', now())"
                )
            )
            before = (conn.execute(text(odds)).all(), conn.execute(text(audit)).all())
        migrate.upgrade(scratch_url)
        with engine.begin() as conn:
            assert (conn.execute(text(odds)).all(), conn.execute(text(audit)).all()) == before
            homes = conn.execute(
                text("SELECT tableoid::regclass::text FROM odds_snapshots ORDER BY id")
            ).scalars()
            assert list(homes) == [
                "odds_snapshots_before_2000",
                "odds_snapshots_y2019",
                "odds_snapshots_y2019",
            ]
            next_id = conn.execute(text("SELECT nextval('odds_snapshots_id_seq')")).scalar_one()
            assert next_id == before[0][-1].id + 1
        migrate.downgrade(scratch_url, "0014")
        with engine.begin() as conn:
            after = (conn.execute(text(odds)).all(), conn.execute(text(audit)).all())
            assert after == before
            kind = "SELECT relkind FROM pg_class WHERE relname = 'odds_snapshots'"
            assert conn.execute(text(kind)).scalar_one() == "r"
    finally:
        engine.dispose()


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
