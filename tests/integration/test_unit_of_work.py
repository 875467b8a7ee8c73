"""The Unit of Work: commit, rollback, audit rows, savepoints, retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from backend.core.config import Settings
from backend.core.database import Database, create_database
from backend.core.principal import ADMIN, Principal
from backend.models import AuditLog, Team
from backend.repositories.unit_of_work import UnitOfWork
from tests.helpers import count_statements, unique


@pytest.fixture(scope="module", params=[True, False], ids=["pipelined", "plain"])
def db(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Database]:
    """Every test here runs against the app's real pool in both modes of the connection layer
    (DB_PIPELINE): transactions the unit drives itself, and plain SQLAlchemy transactions."""
    database = create_database(settings.model_copy(update={"db_pipeline": request.param}))
    try:
        yield database
    finally:
        database.dispose()


def _audit_rows(connection: Connection, entity_id: object) -> list[tuple[str, dict[str, object]]]:
    rows = connection.execute(
        select(AuditLog.action, AuditLog.changes).where(
            AuditLog.entity_type == "team", AuditLog.entity_id == str(entity_id)
        )
    )
    return [(r.action, r.changes) for r in rows]


def test_rolled_back_unit_leaves_no_row_and_no_audit(
    uow: UnitOfWork, connection: Connection
) -> None:
    name = unique("Rollback")
    with uow:
        team = uow.teams.add(Team(name=name))
        team_id = team.id
        # leaving without commit() rolls back
    assert connection.scalar(select(func.count()).where(Team.name == name)) == 0
    assert _audit_rows(connection, team_id) == []


def test_committed_change_has_exactly_one_audit_row_even_across_flushes(
    uow: UnitOfWork, connection: Connection
) -> None:
    with uow:
        team = uow.teams.add(Team(name=unique("Audit")))
        uow.teams.update(team, {"league": "EPL"})  # second flush of the same entity
        uow.commit()
    rows = _audit_rows(connection, team.id)
    assert len(rows) == 1
    action, changes = rows[0]
    assert action == "create"
    assert changes["league"] == [None, "EPL"]
    assert team.created_by == "admin" == team.updated_by


def test_audit_row_carries_actor_request_id_and_reason(
    session_factory: object, connection: Connection
) -> None:
    from backend.core.principal import system

    uow = UnitOfWork(
        session_factory,
        system("importer"),
        request_id="req-42",  # type: ignore[arg-type]
        change_reason="season import",
    )
    with uow:
        team = uow.teams.add(Team(name=unique("Ctx")))
        uow.commit()
    row = connection.execute(
        select(
            AuditLog.actor, AuditLog.request_id, AuditLog.change_reason, AuditLog.tenant_id
        ).where(AuditLog.entity_id == str(team.id), AuditLog.entity_type == "team")
    ).one()
    assert tuple(row) == ("importer", "req-42", "season import", None)
    assert team.change_reason == "season import"


def test_savepoint_rolls_back_only_its_part(uow: UnitOfWork, connection: Connection) -> None:
    kept, dropped = unique("Kept"), unique("Dropped")
    with uow:
        uow.teams.add(Team(name=kept))
        with pytest.raises(RuntimeError), uow.savepoint():
            uow.teams.add(Team(name=dropped))
            raise RuntimeError("undo this part")
        uow.commit()
    names = set(connection.scalars(select(Team.name).where(Team.name.in_([kept, dropped]))))
    assert names == {kept}


def test_after_commit_hooks_run_only_after_commit(uow: UnitOfWork) -> None:
    ran: list[str] = []
    with uow:
        uow.on_commit(lambda: ran.append("rolled back"))
    assert ran == []
    with uow:
        uow.on_commit(lambda: ran.append("committed"))
        assert ran == []
        uow.commit()
    assert ran == ["committed"]


def test_serialization_failures_retry_the_whole_unit(
    uow: UnitOfWork, connection: Connection
) -> None:
    attempts: list[int] = []
    name = unique("Retry")

    def work(u: UnitOfWork) -> int:
        attempts.append(1)
        u.teams.add(Team(name=name))
        if len(attempts) < 3:
            u.session.execute(
                text("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
            )
        u.commit()
        return len(attempts)

    assert uow.run(work) == 3
    assert connection.scalar(select(func.count()).where(Team.name == name)) == 1


def test_a_use_case_retries_itself_and_one_called_inside_it_joins_its_unit(
    uow: UnitOfWork, connection: Connection
) -> None:
    from backend.services.use_case import use_case

    attempts: list[int] = []
    outer_name, inner_name = unique("Outer"), unique("Inner")

    @use_case
    def add_inner(u: UnitOfWork) -> bool:
        u.teams.add(Team(name=inner_name))
        return u.is_open

    @use_case
    def add_both(u: UnitOfWork) -> int:
        attempts.append(1)
        u.teams.add(Team(name=outer_name))
        assert add_inner(u)  # joins this open unit: no second transaction, no "already open"
        if len(attempts) < 2:
            u.session.execute(
                text("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
            )
        u.commit()
        return len(attempts)

    assert not uow.is_open
    assert add_both(uow) == 2  # the route calls it with a unit not yet entered
    assert not uow.is_open
    for name in (outer_name, inner_name):  # one commit, nothing of the failed attempt twice
        assert connection.scalar(select(func.count()).where(Team.name == name)) == 1


def test_retries_are_bounded_and_other_errors_are_not_retried(uow: UnitOfWork) -> None:
    calls: list[str] = []

    def always_deadlocks(u: UnitOfWork) -> None:
        calls.append("x")
        u.session.execute(text("DO $$ BEGIN RAISE EXCEPTION 'dl' USING ERRCODE = '40P01'; END $$"))

    with pytest.raises(DBAPIError):
        uow.run(always_deadlocks)
    assert len(calls) == 3

    def fails_otherwise(u: UnitOfWork) -> None:
        calls.append("y")
        u.session.execute(text("SELECT 1/0"))

    with pytest.raises(DBAPIError):
        uow.run(fails_otherwise)
    assert calls.count("y") == 1


def test_audited_writes_outside_a_unit_of_work_are_refused(session_factory: object) -> None:
    from backend.repositories.audit import AuditedWithoutUnitOfWork

    with session_factory() as session:  # type: ignore[operator]
        session.add(Team(name=unique("Sneaky")))
        with pytest.raises(AuditedWithoutUnitOfWork):
            session.flush()


def test_pooled_units_commit_all_or_nothing_across_plain_sql_and_the_orm(
    db: Database, raw_engine: Engine
) -> None:
    """Units on the app's own pool run plain SQL on their connection and ORM work on a session
    bound to it: one transaction either way, committed whole or rolled back whole."""
    kept, dropped, orm_dropped = unique("Kept"), unique("Dropped"), unique("OrmDropped")

    def names() -> set[str]:
        with db.engine.connect() as conn:
            return set(
                conn.scalars(select(Team.name).where(Team.name.in_([kept, dropped, orm_dropped])))
            )

    insert = "INSERT INTO teams (name, created_by, updated_by) VALUES (%(n)s, 'x', 'x')"
    with pytest.raises(RuntimeError), UnitOfWork(db.session_factory, ADMIN) as uow:
        uow.teams._raw(insert, {"n": dropped})  # plain SQL first, then the ORM
        uow.teams.add(Team(name=orm_dropped))
        raise RuntimeError("the use case fails after both")
    assert names() == set()

    with UnitOfWork(db.session_factory, ADMIN) as uow:
        uow.teams._raw(insert, {"n": kept})
        team = uow.teams.add(Team(name=unique("Also")))
        uow.commit()
    assert names() == {kept}
    with raw_engine.connect() as conn:  # the audit log is behind row-level security
        audit = conn.scalar(
            select(func.count()).where(
                AuditLog.entity_type == "team", AuditLog.entity_id == str(team.id)
            )
        )
    assert audit == 1  # the ORM insert's audit row, in the same transaction


def test_a_connection_returns_to_the_pool_with_no_transaction_of_ours_left_open(
    db: Database,
) -> None:
    """Write units drive their transaction themselves (autocommit mode, BEGIN with the first
    statement, COMMIT with the staged rows). Whatever happens, the pool hands the connection
    on with no server transaction open and autocommit off: after a unit that failed midway,
    and even when nothing told SQLAlchemy the transaction was ours (the reset asks libpq)."""
    from backend.core.connection import state_of

    name = unique("Stranded")
    insert = "INSERT INTO teams (name, created_by, updated_by) VALUES (%(n)s, 'x', 'x')"

    def next_checkout_state() -> tuple[bool, int]:
        with db.engine.connect() as conn:  # the pool is LIFO: the connection just returned
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            return dbapi.autocommit, dbapi.get_transaction_status()

    with pytest.raises(RuntimeError), UnitOfWork(db.session_factory, ADMIN) as uow:
        uow.teams._raw(insert, {"n": name})
        raise RuntimeError("the use case fails midway")
    assert next_checkout_state() == (False, 0)  # TRANSACTION_STATUS_IDLE

    with pytest.raises(RuntimeError), UnitOfWork(db.session_factory, ADMIN) as uow:
        uow.teams._raw(insert, {"n": name})
        conn = uow.connection()
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None and dbapi.autocommit == db.settings.db_pipeline
        state_of(conn).explicit = False  # SQLAlchemy's rollback no longer knows it is ours
        raise RuntimeError("the use case fails midway")
    assert next_checkout_state() == (False, 0)
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(Team.name == name)) == 0


def test_a_savepoint_inside_a_pooled_unit_rolls_back_alone(
    db: Database, raw_engine: Engine
) -> None:
    """Savepoints work inside the transaction the unit drives itself: the failed part is
    undone, audit entries of what it had flushed included; the rest commits with its audit
    row as it stood before the savepoint."""
    undone, kept = unique("Undone"), unique("KeptAfterSavepoint")
    with UnitOfWork(db.session_factory, ADMIN) as uow:
        team = uow.teams.add(Team(name=kept))
        uow.session.flush()
        with pytest.raises(RuntimeError), uow.savepoint():
            gone = uow.teams.add(Team(name=undone))
            team.league = "Renamed inside the savepoint"
            uow.session.flush()
            gone_id = gone.id
            raise RuntimeError("this part fails")
        uow.session.refresh(team)  # the rolled-back rename is gone from the row
        uow.commit()
    with raw_engine.connect() as conn:
        names = set(conn.scalars(select(Team.name).where(Team.name.in_([undone, kept]))))
        rows = {
            entity_id: list(
                conn.execute(
                    select(AuditLog.action, AuditLog.changes).where(
                        AuditLog.entity_type == "team", AuditLog.entity_id == str(entity_id)
                    )
                )
            )
            for entity_id in (team.id, gone_id)
        }
    assert names == {kept}
    assert rows[gone_id] == []
    [(action, changes)] = rows[team.id]
    assert action == "create"
    assert changes["name"] == [None, kept]
    assert "league" not in changes  # the rename inside the savepoint left no trace


def _tenant_with_strategy(db: Database) -> tuple[Principal, str]:
    """A tenant (by SQL, as the table owner would see it) and one strategy of it."""
    import uuid

    tenant = uuid.uuid4()
    name = unique("Modes")
    with db.engine.begin() as conn:
        conn.execute(
            text("SELECT set_config('app.bypass_rls', 'on', true)"),
        )
        conn.execute(
            text(
                "INSERT INTO tenants (id, name, created_by, updated_by) VALUES (:t, :n, 'x', 'x')"
            ),
            {"t": tenant, "n": name},
        )
        conn.execute(
            text(
                "INSERT INTO strategies (id, tenant_id, name, bankroll, initial_bankroll, "
                "max_stake, created_by, updated_by) "
                "VALUES (:s, :t, :n, 100, 100, 10, 'x', 'x')"
            ),
            {"s": uuid.uuid4(), "t": tenant, "n": name},
        )
    return Principal(kind="tenant", actor=name, tenant_id=tenant), name


def test_read_only_units_see_only_their_tenant_and_refuse_writes(db: Database) -> None:
    principal, name = _tenant_with_strategy(db)
    other, _ = _tenant_with_strategy(db)
    for _ in range(2):  # the connection back in the pool, then reused
        with UnitOfWork(db.session_factory, principal, read_only=True) as uow:
            rows = uow.connection().execute(text("SELECT name FROM strategies")).scalars()
            assert list(rows) == [name]  # row-level security, on every statement
            again = uow.connection().execute(text("SELECT count(*) FROM strategies")).scalar()
            assert again == 1
            with pytest.raises(DBAPIError) as refused:
                uow.connection().execute(text("UPDATE strategies SET max_stake = 1"))
            assert refused.value.orig.pgcode == "25006"  # type: ignore[union-attr]
    with UnitOfWork(db.session_factory, other, read_only=True) as uow:
        assert uow.connection().execute(text("SELECT name FROM strategies")).scalar() != name


def _audit_insert(statement: str) -> bool:
    return "INSERT INTO audit_log" in statement or "oddsdesk_audit_insert" in statement


def test_a_write_unit_costs_fewer_round_trips_when_pipelined(db: Database) -> None:
    """The same unit in both modes: the same rows and audit entries; pipelined, BEGIN rides
    with the first statement and the audit row with the COMMIT."""
    name = unique("Trips")
    with count_statements(db.engine) as sent, UnitOfWork(db.session_factory, ADMIN) as uow:
        team = uow.teams.add(Team(name=name))
        uow.commit()
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(Team.id == team.id)) == 1
    begins = [s for s in sent if s.strip().upper().startswith("BEGIN")]
    if db.settings.db_pipeline:
        # One INSERT carrying BEGIN and the context, one COMMIT carrying the audit row.
        assert len(sent) == 2, sent
        assert begins and "set_config" in begins[0]
        assert _audit_insert(sent[-1]) and sent[-1].rstrip().endswith("COMMIT")
    else:
        # psycopg2 sends BEGIN and COMMIT itself (not cursor statements): the INSERT with the
        # context in front of it, then the audit row as a statement of its own.
        assert not begins
        assert len(sent) == 2, sent
        assert "set_config" in sent[0] and "INSERT INTO teams" in sent[0]
        assert _audit_insert(sent[1])
