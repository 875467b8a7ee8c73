"""Strategies of one tenant (their bankroll is debited by placing a bet, see bets.py)."""

from __future__ import annotations

from typing import Any, ClassVar

from backend.models.trading import Strategy
from backend.repositories.pages import View
from backend.repositories.tenant import TenantRepository


class StrategyRepository(TenantRepository[Strategy]):
    model_type: ClassVar[type[Any]] = Strategy
    entity_name = "strategy"
    list_view = View.of(
        Strategy,
        (
            "id",
            "name",
            "description",
            "status",
            "bankroll",
            "initial_bankroll",
            "max_stake",
            "max_match_exposure",
            "price_tolerance",
            "kill_reason",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "version",
        ),
    )
    constraint_messages = {
        "uq_strategies_tenant_id_lower_name": "a strategy with this name already exists",
        "ck_strategies_bankroll_not_negative": "bankroll cannot go below zero",
    }
