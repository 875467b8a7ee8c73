"""Strategy lifecycle: create, change, kill, resume; and how each one is doing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from backend.core.cache import Caches, QueryCache
from backend.core.errors import Conflict, NotFound
from backend.core.versioning import ExpectedVersion
from backend.models.trading import Strategy
from backend.repositories.bets import LeaderboardRow, Performance
from backend.repositories.strategies import StrategyRepository
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import crud
from backend.services.use_case import use_case


def strategies(uow: UnitOfWork) -> StrategyRepository:
    return uow.strategies


@use_case
def create(
    uow: UnitOfWork,
    *,
    name: str,
    description: str | None,
    bankroll: Decimal,
    max_stake: Decimal,
    max_match_exposure: Decimal | None = None,
    price_tolerance: Decimal | None = None,
) -> Strategy:
    strategy = uow.strategies.add(
        Strategy(
            name=name,
            description=description,
            bankroll=bankroll,
            initial_bankroll=bankroll,
            max_stake=max_stake,
            max_match_exposure=max_match_exposure,
            price_tolerance=price_tolerance,
        )
    )
    uow.commit()
    return strategy


def killed_conflict(strategy: Strategy) -> Conflict:
    return Conflict(
        "strategy-killed",
        f"strategy {strategy.id} is killed: {strategy.kill_reason or 'no reason given'}",
        title="Strategy killed",
    )


@use_case
def update(
    uow: UnitOfWork, strategy_id: uuid.UUID, changes: Mapping[str, Any], expected: ExpectedVersion
) -> Strategy:
    strategy = uow.strategies.get_one(strategy_id)
    expected.check(strategy.version)
    if strategy.status == "killed":
        raise killed_conflict(strategy)
    uow.strategies.update(strategy, changes)
    uow.commit()
    return strategy


def _reason_for_audit(uow: UnitOfWork, reason: str) -> None:
    # X-Change-Reason wins; otherwise the body's reason explains the change in the audit log.
    if uow.audit.context.change_reason is None:
        uow.audit.context.change_reason = reason


def _transition(
    uow: UnitOfWork, strategy: Strategy, action: str, changes: dict[str, Any], reason: str
) -> Strategy:
    """Move a strategy to `changes["status"]`; already there: a no-op (no version, no audit)."""
    if strategy.status == changes["status"]:
        return strategy
    _reason_for_audit(uow, reason)
    uow.mark(strategy, action)
    uow.strategies.update(strategy, changes)
    uow.commit()
    return strategy


@use_case
def pause(uow: UnitOfWork, strategy_id: uuid.UUID, reason: str) -> Strategy:
    """Stop taking bets until resumed. Pausing a paused one changes nothing; a killed one
    stays killed (409)."""
    strategy = uow.strategies.get_one(strategy_id, for_update=True)
    if strategy.status == "killed":
        raise killed_conflict(strategy)
    return _transition(uow, strategy, "pause", {"status": "paused"}, reason)


@use_case
def change_limits(
    uow: UnitOfWork, strategy_id: uuid.UUID, limits: Mapping[str, Any], reason: str | None
) -> Strategy:
    """Set risk limits at once, without If-Match: a busy strategy's version moves with every
    bet, so a conditional PATCH would be refused again and again. The row lock orders it
    against bets: every bet debited after it is checked against the new limits."""
    strategy = uow.strategies.get_one(strategy_id, for_update=True)
    if strategy.status == "killed":
        raise killed_conflict(strategy)
    if all(getattr(strategy, name) == value for name, value in limits.items()):
        return strategy  # nothing to change: no version, no audit entry
    if reason is not None:
        _reason_for_audit(uow, reason)
    uow.strategies.update(strategy, limits)
    uow.commit()
    return strategy


@use_case
def kill(uow: UnitOfWork, strategy_id: uuid.UUID, reason: str) -> Strategy:
    """Stop a strategy for good (until resumed). Killing a killed one changes nothing."""
    strategy = uow.strategies.get_one(strategy_id, for_update=True)
    return _transition(uow, strategy, "kill", {"status": "killed", "kill_reason": reason}, reason)


@use_case
def resume(uow: UnitOfWork, strategy_id: uuid.UUID, reason: str) -> Strategy:
    """Back to active, from killed or paused. Resuming an active one changes nothing."""
    strategy = uow.strategies.get_one(strategy_id, for_update=True)
    return _transition(uow, strategy, "resume", {"status": "active", "kill_reason": None}, reason)


@use_case
def performance(uow: UnitOfWork, strategy_id: uuid.UUID) -> Performance:
    found = uow.bets.performance(strategy_id)
    if found is None:
        raise NotFound("strategy", strategy_id)
    return found


def leaderboards(caches: Caches) -> QueryCache[list[LeaderboardRow]]:
    return caches.leaderboards


def cached_leaderboard(uow: UnitOfWork, limit: int) -> list[LeaderboardRow] | None:
    """The rows `leaderboard` would answer, if cached and servable without any I/O."""
    return crud.cached(uow, leaderboards, (uow.principal.tenant_id, limit))


@use_case
def leaderboard(uow: UnitOfWork, limit: int) -> list[LeaderboardRow]:
    """The tenant's strategies with a settled bet, best average CLV first: the leaderboard as
    its last refresh left it (cached until the next refresh, which every result triggers)."""
    if uow.caches is None:
        return uow.bets.leaderboard(limit)
    rows: list[LeaderboardRow] = uow.caches.leaderboards.get_or_load(
        (uow.principal.tenant_id, limit), lambda: uow.bets.leaderboard(limit)
    )
    return rows
