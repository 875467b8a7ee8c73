from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import ConfigDict, JsonValue, model_validator

from backend.api.schemas.common import InputModel, OutputModel, RefId, UtcDatetime
from backend.api.schemas.money import MoneyOut, Price, PriceOut, RatioOut, Stake
from backend.models.trading import MARKETS

Market = Literal["1x2", "ou2.5"]
Selection = Literal["home", "draw", "away", "over", "under"]
BetStatus = Literal["open", "won", "lost", "void"]


def market_selection_rule() -> list[JsonValue]:
    """The selections each market takes, as JSON Schema alternatives over an object's `market`
    and `selection` (both still declared, and required, by the object itself)."""
    return [
        {"properties": {"market": {"const": market}, "selection": {"enum": list(selections)}}}
        for market, selections in MARKETS.items()
    ]


class BetCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "strategy_id": "3f2c1d8e-4b6a-4f1e-9c2d-7a8b9c0d1e2f",
                    "match_id": 2281,
                    "bookmaker_id": 4,
                    "market": "1x2",
                    "selection": "home",
                    "stake": "25.00",
                    "price": "2.150",
                }
            ],
            # What `_selection_fits_market` checks.
            "anyOf": market_selection_rule(),
        },
    )

    strategy_id: uuid.UUID
    match_id: RefId
    bookmaker_id: RefId
    market: Market
    selection: Selection
    stake: Stake
    price: Price

    @model_validator(mode="after")
    def _selection_fits_market(self) -> Self:
        if self.selection not in MARKETS[self.market]:
            allowed = ", ".join(MARKETS[self.market])
            raise ValueError(f"selection for market {self.market} must be one of: {allowed}")
        return self

    def fingerprint_fields(self) -> dict[str, str]:
        """The request after validation: `10`, `"10"` and `"10.00"` are one stake."""
        return {
            "strategy_id": str(self.strategy_id),
            "match_id": str(self.match_id),
            "bookmaker_id": str(self.bookmaker_id),
            "market": self.market,
            "selection": self.selection,
            "stake": f"{self.stake:.2f}",
            "price": f"{self.price:.3f}",
        }


class BetRead(OutputModel):
    id: uuid.UUID
    strategy_id: uuid.UUID
    match_id: int
    bookmaker_id: int
    market: Market
    selection: Selection
    stake: MoneyOut
    price: PriceOut
    potential_return: MoneyOut
    status: BetStatus
    placed_at: UtcDatetime
    settled_at: UtcDatetime | None
    closing_price: PriceOut | None
    clv: RatioOut | None
    pnl: MoneyOut | None
    created_by: str | None
