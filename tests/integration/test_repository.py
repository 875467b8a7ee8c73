"""Repository[T] against real PostgreSQL, inside a rolled-back outer transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.errors import (
    CheckViolation,
    Duplicate,
    ForeignKeyViolation,
    NotFound,
    StillReferenced,
)
from backend.models import Match, Team
from backend.models.audit import AuditLog
from backend.repositories.audit_log import AuditRepository, TenantAuditRepository
from backend.repositories.cursor import InvalidCursor
from backend.repositories.pages import Where
from backend.repositories.reference import MatchRepository, TeamRepository
from backend.repositories.strategies import StrategyRepository
from backend.repositories.unit_of_work import UnitOfWork
from tests.helpers import unique


def _match(home: Team, away: Team, **kw: object) -> Match:
    return Match(
        league="L",
        season="2024-25",
        home_team_id=home.id,
        away_team_id=away.id,
        kickoff_at=kw.pop("kickoff_at", datetime(2030, 1, 1, tzinfo=UTC)),
        **kw,
    )


def test_get_returns_none_and_get_one_raises(uow: UnitOfWork) -> None:
    with uow:
        assert uow.teams.get(2_000_000_000) is None
        assert uow.teams.get(2**70) is None  # larger than the column: simply no row
        with pytest.raises(NotFound):
            uow.teams.get_one(-1)


def test_read_model_has_every_column_of_the_entity(uow: UnitOfWork) -> None:
    with uow:
        team = uow.teams.add(Team(name=unique("Read"), country="England", league="EPL"))
        row = uow.teams.read(team.id)
        assert row is not None
        expected = {a.key: getattr(team, a.key) for a in Team.__mapper__.column_attrs}
        assert row == expected
        assert row["version"] == team.version == 1
        assert uow.teams.read(2_000_000_000) is None
        assert uow.teams.read(2**70) is None  # larger than the column: no row, no error


def test_keyset_pages_cover_every_row_once_with_a_stable_total(uow: UnitOfWork) -> None:
    tag = unique("page")
    with uow:
        uow.teams.add_many([Team(name=f"{tag} {i:02d}", league=tag) for i in range(7)])
        seen, cursor, totals = [], None, set()
        while True:
            page = uow.teams.list(
                where=[Where(Team.league, tag)],
                order_by=[Team.name],
                cursor=cursor,
                limit=3,
                include_total=True,
            )
            seen += [t["name"] for t in page.items]  # read-model rows
            totals.add(page.total)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == sorted(seen) and len(seen) == 7 == len(set(seen))
        assert totals == {7}
        assert uow.teams.count(Team.league == tag) == 7
        assert uow.teams.exists(Team.league == tag)
        assert not uow.teams.exists(Team.league == tag + "x")


def test_unfiltered_pages_cover_every_row_once_in_order(uow: UnitOfWork) -> None:
    """Unfiltered listings run one prebuilt statement (limit and cursor as parameters): every
    page size and cursor still gives the right rows, for each repository's read model."""
    with uow:
        teams = [uow.teams.add(Team(name=unique("Side"))) for _ in range(4)]
        base = datetime(2031, 5, 1, tzinfo=UTC)
        # Kickoffs shared by several matches: the id breaks the tie across pages.
        pairs = [(0, 1), (2, 3), (1, 0), (3, 2), (0, 2), (1, 3)]
        uow.matches.add_many(
            [
                _match(teams[h], teams[a], kickoff_at=base.replace(hour=1 + i // 3))
                for i, (h, a) in enumerate(pairs)
            ]
        )
        want_teams = list(uow.session.scalars(select(Team.id).order_by(Team.name, Team.id)))
        want_matches = list(
            uow.session.scalars(select(Match.id).order_by(Match.kickoff_at, Match.id))
        )
        for limit in (1, 4, 500):
            for repo, order, view, want in (
                (uow.teams, Team.name, TeamRepository.list_view, want_teams),
                (uow.matches, Match.kickoff_at, MatchRepository.view, want_matches),
            ):
                seen: list[int] = []
                cursor = None
                for _ in range(len(want) + 1):  # a cursor that never advances fails, not hangs
                    page = repo.list(order_by=[order], cursor=cursor, limit=limit, view=view)
                    assert len(page.items) <= limit
                    seen += [i["id"] for i in page.items]
                    if page.next_cursor is None:
                        break
                    cursor = page.next_cursor
                assert seen == want


def test_cursor_from_another_ordering_is_refused(uow: UnitOfWork) -> None:
    with uow:
        uow.teams.add_many([Team(name=unique("c")) for _ in range(2)])
        page = uow.teams.list(order_by=[Team.name], limit=1)
        assert page.next_cursor is not None
        with pytest.raises(InvalidCursor):
            uow.matches.list(order_by=[Match.kickoff_at], cursor=page.next_cursor)


def test_duplicate_name_is_a_domain_error_chained_to_the_integrity_error(uow: UnitOfWork) -> None:
    name = unique("Dup")
    with uow:
        uow.teams.add(Team(name=name))
        with uow.savepoint(), pytest.raises(Duplicate) as info:
            uow.teams.add(Team(name=name.upper()))
        assert info.value.constraint == "uq_teams_lower_name"
        assert isinstance(info.value.__cause__, IntegrityError)


def test_foreign_key_check_and_still_referenced(uow: UnitOfWork) -> None:
    with uow:
        home, away = uow.teams.add_many([Team(name=unique("H")), Team(name=unique("A"))])
        with uow.savepoint(), pytest.raises(ForeignKeyViolation) as fk:
            uow.matches.add(
                Match(
                    league="L",
                    season="2024-25",
                    home_team_id=home.id,
                    away_team_id=2_000_000_000,
                    kickoff_at=datetime(2030, 1, 1, tzinfo=UTC),
                )
            )
        assert fk.value.constraint == "fk_matches_away_team_id_teams"
        with uow.savepoint(), pytest.raises(CheckViolation):
            uow.matches.add(_match(home, home))
        uow.matches.add(_match(home, away))
        with uow.savepoint(), pytest.raises(StillReferenced):
            uow.teams.delete(home)


def test_version_and_updated_at_move_only_on_a_real_change(uow: UnitOfWork) -> None:
    with uow:
        team = uow.teams.add(Team(name=unique("V"), league="A"))
        created_version, created_updated = team.version, team.updated_at
        uow.teams.update(team, {"league": "A"})  # same value: no UPDATE at all
        assert (team.version, team.updated_at) == (created_version, created_updated)
        uow.commit()
    with uow:
        team = uow.teams.get_one(team.id)
        uow.teams.update(team, {"league": "B"})
        assert team.version == created_version + 1
        assert team.updated_at > created_updated


def test_tenant_repository_get_filters_by_tenant_even_with_rls_bypassed(
    connection: Connection,
) -> None:
    """The repository's own tenant filter, not only row-level security, hides other tenants'
    rows: with RLS bypassed for this transaction, tenant B still cannot get A's strategy."""
    connection.exec_driver_sql("SELECT set_config('app.bypass_rls', 'on', true)")
    a, b, strategy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for tenant in (a, b):
        connection.execute(
            text("INSERT INTO tenants (id, name) VALUES (:id, :name)"),
            {"id": tenant, "name": unique("Fund")},
        )
    connection.execute(
        text(
            "INSERT INTO strategies (id, tenant_id, name, bankroll, initial_bankroll, max_stake) "
            "VALUES (:id, :tenant, 'S', 10, 10, 1)"
        ),
        {"id": strategy, "tenant": a},
    )
    session = Session(bind=connection)
    try:
        assert StrategyRepository(session, b).get(strategy) is None
        found = StrategyRepository(session, a).get(strategy)
        assert found is not None and found.tenant_id == a
        assert StrategyRepository(session, b).get(strategy) is None  # the memoized statement
        # The read model (plain SQL, no entity) carries the same filter.
        assert StrategyRepository(session, b).read(strategy) is None
        row = StrategyRepository(session, a).read(strategy)
        assert row is not None and str(row["tenant_id"]) == str(a) and row["name"] == "S"
        assert StrategyRepository(session, b).read(strategy) is None
    finally:
        session.close()


def test_audit_repositories_keep_to_their_own_entries_even_with_rls_bypassed(
    connection: Connection,
) -> None:
    """A tenant's audit repository lists its tenant's entries only, and the admin's those
    that carry no tenant, by their own filters (row-level security bypassed here)."""
    connection.exec_driver_sql("SELECT set_config('app.bypass_rls', 'on', true)")
    a, b = uuid.uuid4(), uuid.uuid4()
    tag = unique("audited")
    for tenant in (a, b):
        connection.execute(
            text("INSERT INTO tenants (id, name) VALUES (:id, :name)"),
            {"id": tenant, "name": unique("Fund")},
        )
    for tenant in (a, b, None):
        connection.execute(
            text(
                "INSERT INTO audit_log (tenant_id, actor, action, entity_type, entity_id) "
                "VALUES (:tenant, 'k', 'create', 'team', :tag)"
            ),
            {"tenant": tenant, "tag": tag},
        )
    session = Session(bind=connection)
    try:
        mine = [Where(AuditLog.entity_id, tag)]
        for tenant in (a, b):
            page = TenantAuditRepository(session, tenant).list(where=mine, limit=10)
            assert len(page.items) == 1
        admin = AuditRepository(session).list(where=mine, limit=10, include_total=True)
        assert admin.total == 1 and len(admin.items) == 1
    finally:
        session.close()
