from __future__ import annotations

import uuid
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, StringConstraints, model_validator

from backend.api.schemas.common import (
    InputModel,
    Name,
    NulFree,
    OutputModel,
    PatchModel,
    Storable,
    UtcDatetime,
)
from backend.api.schemas.money import Bankroll, MoneyOut, RatioOut, Share, Stake

StrategyStatus = Literal["active", "paused", "killed"]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000), Storable, NulFree
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable, NulFree
]


class StrategyCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Closing-line hunter",
                    "description": "Backs prices above the sharp line",
                    "bankroll": "10000.00",
                    "max_stake": "250.00",
                }
            ]
        },
    )

    name: Name
    description: Description | None = None
    bankroll: Bankroll
    max_stake: Stake
    max_match_exposure: Stake | None = None
    price_tolerance: Share | None = None


class StrategyUpdate(PatchModel):
    """`status` moves between active and paused only; kill and resume have their own routes."""

    non_nullable = frozenset({"max_stake", "status"})

    description: Description | None = None
    max_stake: Stake | None = None
    max_match_exposure: Stake | None = None
    price_tolerance: Share | None = None
    status: Literal["active", "paused"] | None = None


class ReasonBody(InputModel):
    reason: Reason


LIMITS = ("max_stake", "max_match_exposure", "price_tolerance")


class LimitsBody(PatchModel):
    """Risk limits, applied at once (no If-Match): the ones given change (null clears
    `max_match_exposure` or `price_tolerance`), the others stay; `reason` goes to the audit
    entry."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"max_stake": "25.00", "max_match_exposure": "100.00"}],
            "anyOf": [{"required": [name]} for name in LIMITS],
        },
    )
    non_nullable = frozenset({"max_stake"})

    max_stake: Stake | None = None
    max_match_exposure: Stake | None = None
    price_tolerance: Share | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if not self.model_fields_set & set(LIMITS):
            raise ValueError("give at least one of max_stake, max_match_exposure, price_tolerance")
        return self

    def limits(self) -> dict[str, object]:
        return self.model_dump(include=set(LIMITS), exclude_unset=True)


class StrategyRead(OutputModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: StrategyStatus
    bankroll: MoneyOut
    initial_bankroll: MoneyOut
    max_stake: MoneyOut
    max_match_exposure: MoneyOut | None
    price_tolerance: RatioOut | None
    kill_reason: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    created_by: str | None
    updated_by: str | None
    version: int


class StrategyRef(OutputModel):
    id: uuid.UUID
    name: str


class PerformanceRead(OutputModel):
    bets: int
    open: int
    settled: int
    void: int
    staked: MoneyOut
    returned: MoneyOut
    pnl: MoneyOut
    roi: RatioOut | None
    avg_clv: RatioOut | None
    beat_closing_rate: RatioOut | None


class LeaderboardEntry(OutputModel):
    rank: int
    strategy: StrategyRef
    settled: int
    pnl: MoneyOut
    roi: RatioOut | None
    avg_clv: RatioOut | None


class Leaderboard(OutputModel):
    items: list[LeaderboardEntry]
