"""The schema-introspection command: silent on a migrated database, precise on a broken one."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, MetaData, create_engine, text
from sqlalchemy.engine import URL

from backend.models import Base
from backend.scripts import localdb, migrate
from backend.services.introspection import compare


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.scripts.db_introspection", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin"},
    )


@pytest.fixture(scope="module")
def schema_url(server_url: URL) -> Iterator[URL]:
    """A freshly migrated database of this module's own: schema only, no other test's rows."""
    name = f"oddsdesk_schema_{uuid.uuid4().hex[:10]}"
    localdb.ensure_database(server_url, name)
    url = localdb.with_database(server_url, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        localdb.drop_database(server_url, name)


@pytest.fixture(scope="module")
def schema_engine(schema_url: URL) -> Iterator[Engine]:
    engine = create_engine(schema_url)
    yield engine
    engine.dispose()


def test_freshly_migrated_database_has_no_differences(schema_url: URL) -> None:
    url = schema_url.render_as_string(hide_password=False)
    result = _cli("--database-url", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no differences" in result.stdout
    as_json = _cli("--database-url", url, "--format", "json", "--schema", "analytics")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == []


def test_unreachable_database_exits_2_with_one_line() -> None:
    result = _cli("--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach the database")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


SABOTAGE = [
    ("ALTER TABLE teams DROP COLUMN country", "missing_column", "teams", "country"),
    ("ALTER TABLE bookmakers ADD COLUMN extra integer", "unexpected_column", "bookmakers", "extra"),
    (
        "ALTER TABLE matches ALTER COLUMN league TYPE varchar(50)",
        "type_mismatch",
        "matches",
        "league",
    ),
    ("DROP INDEX ix_matches_kickoff_at_id", "missing_index", "matches", "ix_matches_kickoff_at_id"),
    (
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "missing_trigger",
        "audit_log",
        "audit_log_append_only",
    ),
    (
        "ALTER TABLE strategies DROP CONSTRAINT ck_strategies_bankroll_not_negative",
        "missing_check",
        "strategies",
        "ck_strategies_bankroll_not_negative",
    ),
    (
        "ALTER TABLE bets DROP CONSTRAINT ck_bets_status_valid, ADD CONSTRAINT "
        "ck_bets_status_valid CHECK (status IN ('open', 'won'))",
        "check_mismatch",
        "bets",
        "ck_bets_status_valid",
    ),
    (
        "ALTER TABLE teams ALTER COLUMN league SET NOT NULL",
        "nullability_mismatch",
        "teams",
        "league",
    ),
    (
        "ALTER TABLE bets DROP CONSTRAINT fk_bets_match_id_matches, ADD CONSTRAINT "
        "fk_bets_match_id_matches FOREIGN KEY (match_id) REFERENCES matches (id) ON DELETE CASCADE",
        "foreign_key_mismatch",
        "bets",
        "fk_bets_match_id_matches",
    ),
    ("DROP POLICY tenant_isolation ON bets", "missing_policy", "bets", "tenant_isolation"),
    (
        "ALTER TABLE analytics.team_profiles ADD COLUMN note text",
        "unexpected_column",
        "team_profiles",
        "note",
    ),
    (
        "ALTER TABLE strategies ALTER COLUMN status SET DEFAULT 'paused'",
        "default_mismatch",
        "strategies",
        "status",
    ),
]


@pytest.mark.parametrize(
    ("sql", "kind", "table", "obj"), SABOTAGE, ids=[s[1] + ":" + s[3] for s in SABOTAGE]
)
def test_each_change_is_reported_exactly_once_with_its_kind(
    schema_engine: Engine, sql: str, kind: str, table: str, obj: str
) -> None:
    with schema_engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text(sql))
            found = compare(conn, Base.metadata, ["public", "analytics"])
        finally:
            trans.rollback()
    assert [(m.kind, m.table, m.object) for m in found] == [(kind, table, obj)]


def test_a_table_partitioned_otherwise_than_its_model_says_is_reported(
    schema_engine: Engine,
) -> None:
    """The models declare odds_snapshots partitioned by RANGE (captured_at): a model that
    says otherwise (here: not partitioned) is told apart from the database, once."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["odds_snapshots"].dialect_options["postgresql"]["partition_by"] = None
    with schema_engine.connect() as conn:
        found = compare(conn, metadata, ["public", "analytics"])
    assert [(m.kind, m.table, m.expected, m.actual) for m in found] == [
        ("partitioning_mismatch", "odds_snapshots", None, "RANGE (captured_at)")
    ]
