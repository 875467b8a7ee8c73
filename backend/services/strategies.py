"""Strategy lifecycle: create, change, kill, resume; and how each one is doing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from backend.core.errors import Conflict
from backend.core.versioning import ExpectedVersion
from backend.models.trading import Strategy
from backend.repositories.trading import Performance, StrategyRepository
from backend.repositories.unit_of_work import UnitOfWork


def strategies(uow: UnitOfWork) -> StrategyRepository:
    return uow.strategies


def create(
    uow: UnitOfWork, *, name: str, description: str | None, bankroll: Decimal, max_stake: Decimal
) -> Strategy:
    strategy = uow.strategies.add(
        Strategy(
            name=name,
            description=description,
            bankroll=bankroll,
            initial_bankroll=bankroll,
            max_stake=max_stake,
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
    uow: UnitOfWork, strategy_id: uuid.UUID, action: str, changes: dict[str, Any], reason: str
) -> Strategy:
    """Move a strategy to `changes["status"]`; already there: a no-op (no version, no audit)."""
    strategy = uow.strategies.get_one(strategy_id, for_update=True)
    if strategy.status == changes["status"]:
        return strategy
    _reason_for_audit(uow, reason)
    uow.mark(strategy, action)
    uow.strategies.update(strategy, changes)
    uow.commit()
    return strategy


def kill(uow: UnitOfWork, strategy_id: uuid.UUID, reason: str) -> Strategy:
    """Stop a strategy for good (until resumed). Killing a killed one changes nothing."""
    return _transition(
        uow, strategy_id, "kill", {"status": "killed", "kill_reason": reason}, reason
    )


def resume(uow: UnitOfWork, strategy_id: uuid.UUID, reason: str) -> Strategy:
    """Back to active, from killed or paused. Resuming an active one changes nothing."""
    return _transition(
        uow, strategy_id, "resume", {"status": "active", "kill_reason": None}, reason
    )


def performance(uow: UnitOfWork, strategy_id: uuid.UUID) -> Performance:
    uow.strategies.get_one(strategy_id)
    return uow.bets.performance(strategy_id)
