from __future__ import annotations

import uuid
from typing import Self

from pydantic import ConfigDict, JsonValue, model_validator

from backend.api.schemas.common import InputModel, OutputModel, RefId, UtcDatetime
from backend.api.schemas.money import (
    Line,
    LineOut,
    MoneyOut,
    Price,
    PriceOut,
    RatioOut,
    Stake,
    line_schema,
)
from backend.core.markets import (
    LINE_MARKETS,
    MARKETS,
    BetStatus,
    Market,
    Selection,
    line_error,
    selection_error,
)


def market_selection_rule(*, line_required: bool = True) -> list[JsonValue]:
    """The selections each market takes and the line it needs (ah, ou) or refuses (absent or
    null), as JSON Schema alternatives over an object's `market`, `selection` and `line`
    (all still declared by the object itself); see core/markets.py. `line_required=False`:
    a line market may also leave it out (a backtest then takes each match's line)."""
    rules: list[JsonValue] = []
    for market, selections in MARKETS.items():
        line: JsonValue = {"type": "null"}
        if market in LINE_MARKETS:
            line = line_schema(market)
            if not line_required:
                line = {"anyOf": [line, {"type": "null"}]}
        shape: dict[str, JsonValue] = {
            "properties": {
                "market": {"const": market},
                "selection": {"enum": list(selections)},
                "line": line,
            }
        }
        if market in LINE_MARKETS and line_required:
            shape["required"] = ["line"]
        rules.append(shape)
    return rules


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
    line: Line | None = None

    @model_validator(mode="after")
    def _selection_fits_market(self) -> Self:
        problem = selection_error(self.market, self.selection) or line_error(self.market, self.line)
        if problem:
            raise ValueError(problem)
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
            # Only when there is one: a line-less bet keeps the fingerprint it always had.
            **({"line": f"{self.line:.2f}"} if self.line is not None else {}),
        }


class BetRead(OutputModel):
    id: uuid.UUID
    strategy_id: uuid.UUID
    match_id: int
    bookmaker_id: int
    market: Market
    selection: Selection
    line: LineOut | None
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
