"""Tenant B probes every tenant route with tenant A's ids: nothing of A is ever visible."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from backend.core.config import Settings
from backend.core.database import Database, create_database
from backend.core.principal import Principal
from backend.models import AuditLog, Bet, Strategy
from backend.repositories.unit_of_work import UnitOfWork
from tests.helpers import assert_problem, bet_body, idem, make_strategy, make_tenant


@pytest.fixture
def world(
    client: TestClient, admin_headers: dict[str, str], market: dict[str, Any]
) -> dict[str, Any]:
    (a_tenant, a), (b_tenant, b) = (
        make_tenant(client, admin_headers),
        make_tenant(client, admin_headers),
    )
    a_strategy = make_strategy(client, a)
    a_bet = client.post(
        "/v1/bets", json=bet_body(a_strategy["id"], **market), headers=idem(a)
    ).json()
    return {
        "a": a,
        "b": b,
        "a_tenant": a_tenant,
        "b_tenant": b_tenant,
        "strategy": a_strategy,
        "bet": a_bet,
        "market": market,
    }


def test_paths_with_another_tenants_ids_are_404(client: TestClient, world: dict[str, Any]) -> None:
    b, sid, bid = world["b"], world["strategy"]["id"], world["bet"]["id"]
    assert_problem(client.get(f"/v1/strategies/{sid}", headers=b), 404)
    assert_problem(client.get(f"/v1/strategies/{sid}/performance", headers=b), 404)
    assert_problem(client.get(f"/v1/bets/{bid}", headers=b), 404)
    # 404 before any precondition: never 412 or 428 for what you cannot see.
    for if_match in (None, '"1"', '"999"', "garbage"):
        headers = b if if_match is None else {**b, "If-Match": if_match}
        assert_problem(
            client.patch(f"/v1/strategies/{sid}", json={"description": "x"}, headers=headers), 404
        )
    assert_problem(client.post(f"/v1/strategies/{sid}/kill", json={"reason": "x"}, headers=b), 404)
    assert_problem(
        client.post(f"/v1/strategies/{sid}/resume", json={"reason": "x"}, headers=b), 404
    )
    a_view = client.get(f"/v1/strategies/{sid}", headers=world["a"]).json()
    assert a_view["status"] == "active" and a_view["version"] == 2  # only the bet's debit


def test_bodies_naming_another_tenants_strategy_are_404(
    client: TestClient, world: dict[str, Any]
) -> None:
    body = bet_body(world["strategy"]["id"], **world["market"])
    assert_problem(client.post("/v1/bets", json=body, headers=idem(world["b"])), 404)
    assert (
        client.get(f"/v1/strategies/{world['strategy']['id']}", headers=world["a"]).json()[
            "bankroll"
        ]
        == "990.00"
    )


def test_lists_and_filters_never_show_another_tenants_rows(
    client: TestClient, world: dict[str, Any]
) -> None:
    b, sid = world["b"], world["strategy"]["id"]
    assert client.get("/v1/strategies", headers=b).json()["items"] == []
    assert client.get("/v1/bets", headers=b).json()["items"] == []
    assert client.get("/v1/bets", params={"strategy_id": sid}, headers=b).json()["items"] == []
    assert (
        client.get("/v1/bets", params={"match_id": world["market"]["match_id"]}, headers=b).json()[
            "items"
        ]
        == []
    )
    assert client.get("/v1/audit", headers=b).json()["items"] == []
    assert client.get("/v1/audit", params={"entity_id": sid}, headers=b).json()["items"] == []
    assert client.get("/v1/leaderboard", headers=b).json()["items"] == []
    a_audit = client.get("/v1/audit", params={"entity_id": sid}, headers=world["a"]).json()
    assert [e["action"] for e in a_audit["items"]] == ["create", "update"]


def test_row_level_security_hides_rows_from_an_unfiltered_query(
    db: Database, world: dict[str, Any]
) -> None:
    """Through the application's own connections (the unprivileged app role), a query with no
    tenant filter at all still returns only the current tenant's rows."""
    b_principal = Principal(
        kind="tenant", actor="probe", tenant_id=uuid.UUID(world["b_tenant"]["id"])
    )
    a_strategy = uuid.UUID(world["strategy"]["id"])
    with UnitOfWork(db.session_factory, b_principal) as uow:
        assert uow.session.scalar(text("SELECT current_user")) == "oddsdesk_app"
        for model in (Strategy, Bet):
            rows = uow.session.scalars(select(model)).all()  # deliberately unfiltered
            assert rows == []
        assert uow.session.scalar(select(func.count()).select_from(AuditLog)) == 0
        changed = uow.session.execute(
            text("UPDATE strategies SET bankroll = 0 WHERE id = :id"), {"id": a_strategy}
        )
        assert changed.rowcount == 0
        with pytest.raises(DBAPIError, match="row-level security"), uow.savepoint():
            uow.session.execute(
                text(
                    "INSERT INTO strategies (id, tenant_id, name, bankroll, initial_bankroll, "
                    "max_stake) VALUES (gen_random_uuid(), :t, 'planted', 1, 1, 1)"
                ),
                {"t": uuid.UUID(world["a_tenant"]["id"])},
            )
    # A connection of the app that never set a tenant sees nothing either.
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM strategies")) == 0
        assert conn.scalar(text("SELECT count(*) FROM bets")) == 0


def test_isolation_holds_without_start_up_options_for_a_superuser_login(
    settings: Settings, world: dict[str, Any]
) -> None:
    """As behind a pooler that drops (or refuses) libpq start-up options: the test database
    logs in as the superuser `postgres`, and with DB_STARTUP_OPTIONS=false the connection
    carries no role and no timeouts. Each unit of work's transaction still runs as the app's
    role, with the configured timeouts, and row-level security binds it."""
    bare = create_database(settings.model_copy(update={"db_startup_options": False}))
    b_tenant = uuid.UUID(world["b_tenant"]["id"])
    b_principal = Principal(kind="tenant", actor="probe", tenant_id=b_tenant)
    try:
        with bare.engine.connect() as conn:  # outside a unit of work: the login user
            assert conn.scalar(text("SELECT current_user")) == "postgres"
            assert conn.scalar(text("SHOW statement_timeout")) == "0"
        for read_only in (False, True):
            with UnitOfWork(bare.session_factory, b_principal, read_only=read_only) as uow:
                assert uow.session.scalar(text("SELECT current_user")) == "oddsdesk_app"
                timeout = uow.session.scalar(
                    text("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
                )
                assert timeout == str(settings.db_statement_timeout_ms)  # in ms
                assert uow.session.scalars(select(Strategy)).all() == []  # A's are hidden
                assert uow.session.scalars(select(Bet)).all() == []
        a_principal = Principal(
            kind="tenant", actor="owner", tenant_id=uuid.UUID(world["a_tenant"]["id"])
        )
        with UnitOfWork(bare.session_factory, a_principal, read_only=True) as uow:
            ids = [str(s.id) for s in uow.session.scalars(select(Strategy)).all()]
            assert ids == [world["strategy"]["id"]]
    finally:
        bare.dispose()


def test_read_only_units_scope_every_statement_and_refuse_writes(
    db: Database, world: dict[str, Any]
) -> None:
    """GET requests run read-only units: autocommit statements, each its own transaction. Every
    statement still carries the tenant context, a write is refused by PostgreSQL, and the
    connection goes back to the pool transactional again."""
    a_tenant, b_tenant = (uuid.UUID(world[k]["id"]) for k in ("a_tenant", "b_tenant"))
    a_strategy = uuid.UUID(world["strategy"]["id"])
    a_principal = Principal(kind="tenant", actor="reader", tenant_id=a_tenant)
    b_principal = Principal(kind="tenant", actor="probe", tenant_id=b_tenant)

    def visible(principal: Principal) -> list[int]:
        with UnitOfWork(db.session_factory, principal, read_only=True) as uow:
            # Three separate statements, deliberately unfiltered: RLS alone decides.
            return [
                len(uow.session.scalars(select(Strategy)).all()),
                uow.session.scalar(select(func.count()).select_from(Bet)) or 0,
                len(uow.session.scalars(select(AuditLog)).all()),
            ]

    strategies, bets, audit = visible(a_principal)
    assert (strategies, bets) == (1, 1)
    assert audit >= 3  # strategy create, bet create, bankroll debit
    assert visible(b_principal) == [0, 0, 0]

    with UnitOfWork(db.session_factory, a_principal, read_only=True) as uow:
        with pytest.raises(DBAPIError) as refused:
            uow.session.execute(
                text("UPDATE strategies SET bankroll = 0 WHERE id = :id"), {"id": a_strategy}
            )
        assert getattr(refused.value.orig, "pgcode", None) == "25006"  # read-only transaction
        # The unit goes on after the refusal, still scoped.
        assert len(uow.session.scalars(select(Strategy)).all()) == 1

    def bankroll() -> object:
        with UnitOfWork(db.session_factory, a_principal, read_only=True) as uow:
            return uow.session.scalar(select(Strategy.bankroll).where(Strategy.id == a_strategy))

    before = bankroll()
    assert before == Decimal(world["strategy"]["bankroll"]) - Decimal(world["bet"]["stake"])
    # The next unit on the pool (LIFO: the same connection) is one transaction again: a change
    # it does not commit is gone.
    with UnitOfWork(db.session_factory, a_principal) as uow:
        uow.session.execute(
            text("UPDATE strategies SET bankroll = 0 WHERE id = :id"), {"id": a_strategy}
        )
        assert uow.session.scalar(select(Strategy.bankroll).where(Strategy.id == a_strategy)) == 0
    assert bankroll() == before > 0
