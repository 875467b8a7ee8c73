"""Hot statements prepared once per pooled connection: used, recovered when the server lost
them, and plain text when switched off (for a transaction-mode pooler)."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from backend.api.app import create_app
from backend.core.config import Settings
from backend.core.database import Database, create_database
from backend.core.plain_sql import raw_execute
from backend.repositories.bet_placement import PLACEMENT_CONTEXT
from tests.helpers import (
    bet_body,
    captured_logs,
    count_rows,
    count_statements,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
)

# What a placed bet runs (the placement context is read only when the debit placed nothing).
BET_STATEMENTS = {
    "oddsdesk_bet_debit_and_insert",
    "oddsdesk_audit_insert_2",
    "oddsdesk_idempotency_record",
}


def _prepared_on_pooled_connections(db: Database) -> list[set[str]]:
    """What each pooled connection's server session holds prepared (checked out together,
    so every connection of the pool is seen, not the same one again)."""
    conns = [db.engine.connect() for _ in range(db.settings.db_pool_size)]
    try:
        return [
            {r[0] for r in c.exec_driver_sql("SELECT name FROM pg_prepared_statements")}
            for c in conns
        ]
    finally:
        for c in conns:
            c.rollback()
            c.close()


def _bankroll(raw_engine: Engine, strategy_id: str) -> Decimal:
    with raw_engine.connect() as conn:
        value: Decimal = conn.exec_driver_sql(
            "SELECT bankroll FROM strategies WHERE id = %(id)s", {"id": strategy_id}
        ).scalar_one()
    return value


def test_a_placed_bet_leaves_its_statements_prepared_on_the_connection(
    client: TestClient,
    db: Database,
    tenant_headers: dict[str, str],
    market: dict[str, Any],
) -> None:
    strategy = make_strategy(client, tenant_headers)
    response = client.post(
        "/v1/bets", json=bet_body(strategy["id"], **market), headers=idem(tenant_headers)
    )
    assert response.status_code == 201, response.text
    assert any(names >= BET_STATEMENTS for names in _prepared_on_pooled_connections(db))


@pytest.mark.parametrize(
    "lost",
    # All of them: the first statement fails. Only the debit: a later one does, after the
    # key's lock and the context read succeeded in the same transaction. Only the audit
    # rows' INSERT: it fails where it was staged, in front of the COMMIT.
    [None, "oddsdesk_bet_debit_and_insert", "oddsdesk_audit_insert_2"],
)
def test_connections_that_lost_their_prepared_statements_recover_without_an_error(
    lost: str | None,
    client: TestClient,
    db: Database,
    raw_engine: Engine,
    tenant_headers: dict[str, str],
    market: dict[str, Any],
) -> None:
    """As after a pooler's DISCARD ALL or an operator's DEALLOCATE: the EXECUTE fails
    (26000), the unit of work retries on a fresh connection, and the bet is placed once,
    debited once, audited once. The other pooled connections, hit by the same cause, start
    afresh the next time they prepare: none of them fails a request."""
    strategy = make_strategy(client, tenant_headers)
    body = bet_body(strategy["id"], **market, stake="10.00")
    first = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    assert first.status_code == 201, first.text

    conns = [db.engine.connect() for _ in range(db.settings.db_pool_size)]
    for conn in conns:
        _place_context(conn)  # every pooled connection has prepared the bet's statements
        names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM pg_prepared_statements")}
        if lost is None:
            conn.exec_driver_sql("DEALLOCATE ALL")
        elif lost in names:
            conn.exec_driver_sql(f"DEALLOCATE {lost}")
        conn.commit()
    for conn in reversed(conns):  # the pool is LIFO: the bet gets the first one back
        conn.close()

    with captured_logs("oddsdesk.uow", logging.INFO) as logged:
        second = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    assert second.status_code == 201, second.text
    retries = [r for r in logged if r.getMessage() == "retrying unit of work"]
    assert [getattr(r, "sqlstate", None) for r in retries] == ["26000"]
    assert _bankroll(raw_engine, strategy["id"]) == Decimal("980.00")
    assert (
        count_rows(
            raw_engine,
            "SELECT count(*) FROM audit_log WHERE entity_type = 'bet' AND entity_id = :b",
            b=second.json()["id"],
        )
        == 1
    )
    assert (
        count_rows(raw_engine, "SELECT count(*) FROM bets WHERE strategy_id = :s", s=strategy["id"])
        == 2
    )
    conns = [db.engine.connect() for _ in range(db.settings.db_pool_size)]
    try:
        for conn in conns:
            _place_context(conn)  # prepared afresh where needed: no 26000 on any of them
    finally:
        for conn in conns:
            conn.close()


def _place_context(conn: Connection) -> None:
    """Run the bet's context statement (prepared, read-only) on a pooled connection."""
    params = {
        "lock_id": "probe",
        "tenant": str(uuid.uuid4()),
        "strategy": str(uuid.uuid4()),
        "match": 1,
        "bookmaker": 1,
        "market": "1x2",
        "selection": "home",
        "line": None,
        "key": "probe",
    }
    raw_execute(conn, PLACEMENT_CONTEXT, params).close()
    conn.rollback()


@pytest.fixture(scope="module")
def unprepared(settings: Settings) -> Any:
    own = settings.model_copy(update={"db_prepared_statements": False})
    database = create_database(own)
    try:
        with TestClient(create_app(own, database), raise_server_exceptions=False) as client:
            yield client, database
    finally:
        database.dispose()


def test_with_prepared_statements_off_the_statements_go_as_text(
    unprepared: tuple[TestClient, Database],
    raw_engine: Engine,
    admin_headers: dict[str, str],
    client: TestClient,
    tenant_headers: dict[str, str],
    market: dict[str, Any],
) -> None:
    own_client, database = unprepared
    strategy = make_strategy(client, tenant_headers)
    body = bet_body(strategy["id"], **market, stake="5.00")
    own_client.post("/v1/bets", json=body, headers=idem(tenant_headers))  # warm
    with count_statements(database.engine) as statements:
        response = own_client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    assert response.status_code == 201, response.text
    assert len(statements) == 2  # the locks and the debit; the record, the audit rows and COMMIT
    assert not any("EXECUTE" in s or "PREPARE" in s for s in statements)
    assert "WITH debit AS" in statements[0]
    assert _bankroll(raw_engine, strategy["id"]) == Decimal("990.00")
    assert all(not names for names in _prepared_on_pooled_connections(database))


def _plans(db: Database, table: str) -> list[tuple[int, int]]:
    """(generic plans, custom plans) of the read statements (pages, latest odds) prepared on
    `table`, over the pool."""
    conns = [db.engine.connect() for _ in range(db.settings.db_pool_size)]
    try:
        return [
            (row[0], row[1])
            for c in conns
            for row in c.exec_driver_sql(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE %(t)s "
                "AND (name LIKE 'oddsdesk_page_%%' OR name = 'oddsdesk_latest_odds')",
                {"t": f"%FROM {table} %"},
            )
        ]
    finally:
        for c in conns:
            c.rollback()
            c.close()


def test_history_reads_run_on_a_plan_made_once_per_connection(
    client: TestClient, db: Database, admin_headers: dict[str, str], tenant_headers: dict[str, str]
) -> None:
    """A page of odds history, the latest odds and the audit list read partitioned tables:
    each runs prepared on its generic plan (pruned as it starts), never planned per request
    (PostgreSQL would otherwise plan every execution over every partition's indexes)."""
    match = make_match(client, admin_headers)
    book = make_bookmaker(client, admin_headers)
    snapshots = [
        {
            "match_id": match["id"],
            "bookmaker_id": book["id"],
            "market": "1x2",
            "selection": "home",
            "price": "2.10",
            "captured_at": f"20{year}-03-01T12:00:00Z",
        }
        for year in (19, 23, 24)
    ]
    loaded = client.post("/v1/odds/batch", json={"snapshots": snapshots}, headers=admin_headers)
    assert loaded.status_code == 200, loaded.text
    reads = [
        (f"/v1/matches/{match['id']}/odds/history", admin_headers),
        (f"/v1/matches/{match['id']}/odds", admin_headers),
        ("/v1/audit", tenant_headers),
    ]
    for _ in range(8):
        for path, headers in reads:
            response = client.get(
                path, params={"limit": 2} if "history" in path else {}, headers=headers
            )
            assert response.status_code == 200, response.text
    history = client.get(
        f"/v1/matches/{match['id']}/odds/history", params={"limit": 5}, headers=admin_headers
    ).json()
    assert [s["captured_at"][:4] for s in history["items"]] == ["2019", "2023", "2024"]
    for table in ("odds_snapshots", "audit_log"):
        plans = _plans(db, table)
        assert plans, table
        assert sum(generic for generic, _ in plans) >= 8, (table, plans)
        assert all(custom == 0 for _, custom in plans), (table, plans)


def test_the_bets_statement_reading_the_price_guard_runs_on_its_generic_plan(
    client: TestClient, db: Database, tenant_headers: dict[str, str], market: dict[str, Any]
) -> None:
    """Placing a bet reads the partitioned odds history (the price guard's latest snapshot):
    planned once per connection, not at every bet."""
    strategy = make_strategy(client, tenant_headers)
    for _ in range(7):
        placed = client.post(
            "/v1/bets",
            json=bet_body(strategy["id"], **market, stake="1.00"),
            headers=idem(tenant_headers),
        )
        assert placed.status_code == 201, placed.text
    conns = [db.engine.connect() for _ in range(db.settings.db_pool_size)]
    try:
        plans = [
            (row[0], row[1])
            for c in conns
            for row in c.exec_driver_sql(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE name = 'oddsdesk_bet_debit_and_insert'"
            )
        ]
    finally:
        for c in conns:
            c.rollback()
            c.close()
    assert sum(generic for generic, _ in plans) >= 7, plans
    assert all(custom == 0 for _, custom in plans), plans


# Eight different shapes of the matches list: each is its own page statement.
_SHAPES = [
    {},
    {"league": "Premier League"},
    {"season": "2024-25"},
    {"status": "scheduled"},
    {"league": "Premier League", "season": "2024-25"},
    {"kickoff_from": "2020-01-01T00:00:00Z"},
    {"kickoff_to": "2040-01-01T00:00:00Z"},
    {"status": "scheduled", "kickoff_from": "2020-01-01T00:00:00Z"},
]


def test_page_statements_built_at_once_by_many_threads_each_run_their_own_sql(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """20 rounds: 8 threads each ask a different list shape at once, on a process that has
    built none of them yet (the first requests after start-up). Every answer is the one the
    same request gets alone, and no prepared name stands for two statements (a connection
    would EXECUTE the other shape's SQL)."""
    from concurrent.futures import ThreadPoolExecutor

    from backend.repositories.base import Repository

    make_match(client, admin_headers, league="Premier League", season="2024-25")

    def ask(params: dict[str, str]) -> tuple[int, Any]:
        response = client.get("/v1/matches", params={**params, "limit": 3}, headers=admin_headers)
        return response.status_code, response.json()

    expected = [ask(shape) for shape in _SHAPES]
    assert all(status == 200 for status, _ in expected)
    for _ in range(20):
        Repository._page_statements.clear()  # as at start-up: no shape built yet
        with ThreadPoolExecutor(len(_SHAPES)) as pool:
            answers = list(pool.map(ask, _SHAPES))
        assert answers == expected
        names = [p.sql.name for p in Repository._page_statements.values()]
        assert len(names) == len(set(names))
