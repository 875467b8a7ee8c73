"""The listings: each resource's keyset pages, its filters as typed keyword arguments.

Routes hand over what they parsed; the filters become `Where` values here (one statement per
combination of filters, compiled once), in the order and with the read model the API
documents. An id no row can have (outside the column's range) matches nothing: the page is
empty, never a database error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from backend.core.cache import Caches, QueryCache
from backend.core.principal import Principal
from backend.models.audit import AuditLog
from backend.models.odds import OddsSnapshot
from backend.models.reference import Bookmaker, Match, Team
from backend.models.tenancy import Tenant
from backend.models.trading import Bet, Strategy
from backend.repositories.pages import Page, Where
from backend.repositories.reference import MatchRepository
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import crud
from backend.services.use_case import use_case


class PageRequest(Protocol):
    """Which page: its size, the cursor it follows, whether to count every matching row."""

    @property
    def limit(self) -> int: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def include_total(self) -> bool: ...


def _equal(**pairs: tuple[Any, Any]) -> list[Where]:
    """`Where` for each given (column, value) pair whose value is not None."""
    return [Where(column, value) for column, value in pairs.values() if value is not None]


@use_case
def teams(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    league: str | None = None,
    country: str | None = None,
    q: str | None = None,
) -> Page[Any]:
    """Teams by name then id; `q` is a case-insensitive substring of the name. Pages are
    cached (reference data: any change of a team, an insert included, drops them all)."""

    def load() -> Page[Any]:
        where = _equal(league=(Team.league, league), country=(Team.country, country))
        if q:
            where.append(Where(Team.name, q, "contains"))
        return _page(uow.teams, page, where, Team.name)

    return _through(uow, team_pages, _key(page, league, country, q), load)


@use_case
def bookmakers(uow: UnitOfWork, page: PageRequest, *, is_sharp: bool | None = None) -> Page[Any]:
    """Bookmakers by name then id; pages cached like the teams'."""

    def load() -> Page[Any]:
        where = _equal(sharp=(Bookmaker.is_sharp, is_sharp))
        return _page(uow.bookmakers, page, where, Bookmaker.name)

    return _through(uow, bookmaker_pages, _key(page, is_sharp), load)


def cached_teams(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    league: str | None = None,
    country: str | None = None,
    q: str | None = None,
) -> Page[Any] | None:
    """The page `teams` would answer, if it is cached and may be served without any I/O."""
    return crud.cached(uow, team_pages, _key(page, league, country, q))


def cached_bookmakers(
    uow: UnitOfWork, page: PageRequest, *, is_sharp: bool | None = None
) -> Page[Any] | None:
    """The page `bookmakers` would answer, if cached and servable without any I/O."""
    return crud.cached(uow, bookmaker_pages, _key(page, is_sharp))


def team_pages(caches: Caches) -> QueryCache[Page[Any]]:
    return caches.team_pages


def bookmaker_pages(caches: Caches) -> QueryCache[Page[Any]]:
    return caches.bookmaker_pages


def _key(page: PageRequest, *filters: Any) -> tuple[Any, ...]:
    """A cached page's key: its listing's filters, then which page."""
    return (*filters, page.limit, page.cursor, page.include_total)


def _through(
    uow: UnitOfWork,
    cache: Callable[[Caches], QueryCache[Page[Any]]],
    key: tuple[Any, ...],
    load: Callable[[], Page[Any]],
) -> Page[Any]:
    # Inside the open unit: a page served from the cache runs no statement, and the unit
    # re-checks a tenant key on its own when it ends (unless the listener vouches for it).
    caches = uow.caches
    return load() if caches is None else cache(caches).get_or_load(key, load)


@use_case
def matches(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    team_id: int | None = None,
    league: str | None = None,
    season: str | None = None,
    status: str | None = None,
    kickoff_from: datetime | None = None,
    kickoff_to: datetime | None = None,
) -> Page[Any]:
    """Matches by kickoff then id, both teams embedded (`team_id`: home or away)."""
    where = _equal(
        league=(Match.league, league), season=(Match.season, season), status=(Match.status, status)
    )
    if team_id is not None:
        where.append(Where(Match.home_team_id, team_id, either=Match.away_team_id))
    if kickoff_from is not None:
        where.append(Where(Match.kickoff_at, kickoff_from, "ge"))
    if kickoff_to is not None:
        where.append(Where(Match.kickoff_at, kickoff_to, "lt"))
    return _page(uow.matches, page, where, Match.kickoff_at, view=MatchRepository.view)


@use_case
def tenants(uow: UnitOfWork, page: PageRequest) -> Page[Any]:
    """Tenants by creation time then id."""
    return _page(uow.tenants, page, [], Tenant.created_at)


@use_case
def strategies(uow: UnitOfWork, page: PageRequest, *, status: str | None = None) -> Page[Any]:
    """The tenant's strategies by creation time then id."""
    return _page(
        uow.strategies, page, _equal(status=(Strategy.status, status)), Strategy.created_at
    )


@use_case
def bets(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    strategy_id: uuid.UUID | None = None,
    match_id: int | None = None,
    status: str | None = None,
) -> Page[Any]:
    """The tenant's bets by placement time then id."""
    where = _equal(
        strategy=(Bet.strategy_id, strategy_id),
        match=(Bet.match_id, match_id),
        status=(Bet.status, status),
    )
    return _page(uow.bets, page, where, Bet.placed_at)


@use_case
def audit(
    uow: UnitOfWork,
    page: PageRequest,
    principal: Principal,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
) -> Page[Any]:
    """Audit entries by time then id: a tenant's own, or (admin) those of reference data,
    tenants and keys, which carry no tenant (each repository keeps to its own)."""
    repo = uow.audit_log if principal.tenant_id is None else uow.tenant_audit_log
    where = _equal(
        type=(AuditLog.entity_type, entity_type),
        id=(AuditLog.entity_id, entity_id),
        action=(AuditLog.action, action),
    )
    return _page(repo, page, where, AuditLog.occurred_at)


@use_case
def odds_history(
    uow: UnitOfWork,
    page: PageRequest,
    match_id: int,
    *,
    bookmaker_id: int | None = None,
    market: str | None = None,
    selection: str | None = None,
    line: Decimal | None = None,
) -> Page[Any]:
    """Every snapshot of an existing match (404 otherwise), by capture time then id. One
    statement per page; only an empty first page asks whether the match exists."""
    where = [
        Where(OddsSnapshot.match_id, match_id),
        *_equal(
            book=(OddsSnapshot.bookmaker_id, bookmaker_id),
            market=(OddsSnapshot.market, market),
            selection=(OddsSnapshot.selection, selection),
            line=(OddsSnapshot.line, line),
        ),
    ]
    result = _page(uow.odds, page, where, OddsSnapshot.captured_at)
    if not result.items and page.cursor is None:
        uow.matches.get_one(match_id)
    return result


def _page(repo: Any, page: PageRequest, where: list[Where], order: Any, **kw: Any) -> Page[Any]:
    return repo.list(  # type: ignore[no-any-return]
        where=where,
        order_by=[order],
        cursor=page.cursor,
        limit=page.limit,
        include_total=page.include_total,
        **kw,
    )
