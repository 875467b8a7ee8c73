"""Backtests: a rule in, the figures it would have produced out."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, JsonValue, model_validator

from backend.api.schemas.bets import market_selection_rule
from backend.api.schemas.common import (
    InputModel,
    OutputModel,
    RefId,
    ShortText,
    Timestamp,
    UtcDatetime,
)
from backend.api.schemas.money import (
    Line,
    MoneyOut,
    Price,
    RatioOut,
    Stake,
    decimal_input,
    input_schema,
)
from backend.core.markets import Market, Selection
from backend.repositories.backtests import PriceSource
from backend.services.backtest_ledger import Ledger, Staking, StakingRule
from backend.services.backtests import Rule

MAX_MATCH_IDS = 10_000
# (0, 1] with up to 4 places.
FRACTION_PATTERN = r"^(1(\.0+)?|0\.(000[1-9]|00[1-9][0-9]?|0[1-9][0-9]{0,2}|[1-9][0-9]{0,3})0*)$"
KellyFraction = Annotated[
    Decimal,
    decimal_input(4, gt=Decimal(0), le=Decimal(1)),
    input_schema(4, FRACTION_PATTERN, minimum=Decimal(0), exclusive=True, le=Decimal(1)),
    Field(json_schema_extra={"description": "share of the full Kelly stake, 0-1 (4 places)"}),
]


def staking_rule() -> list[JsonValue]:
    """Which amount each staking takes, as JSON Schema alternatives: `flat` a non-null
    `stake` and no `kelly_fraction`, `kelly` the other way round."""
    return [
        {
            "properties": {
                "staking": {"const": staking},
                given: {"not": {"type": "null"}},
                other: {"type": "null"},
            },
            "required": ["staking", given],
        }
        for staking, given, other in (
            ("flat", "stake", "kelly_fraction"),
            ("kelly", "kelly_fraction", "stake"),
        )
    ]


class BacktestCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "league": "Premier League",
                    "season": "2023-24",
                    "market": "1x2",
                    "selection": "home",
                    "bookmaker_id": 4,
                    "price_source": "opening",
                    "staking": "flat",
                    "stake": "10.00",
                    "bankroll": "1000.00",
                }
            ],
            # What Rule (the selection of the market) and `_staking_fields` check.
            "allOf": [
                {"anyOf": market_selection_rule(line_required=False)},
                {"anyOf": staking_rule()},
            ],
        },
    )

    league: ShortText | None = None
    season: ShortText | None = None
    match_ids: Annotated[list[RefId], Field(min_length=1, max_length=MAX_MATCH_IDS)] | None = None
    kickoff_from: Timestamp | None = None
    kickoff_to: Timestamp | None = None
    market: Market
    selection: Selection
    line: Line | None = None  # ah / ou: only this line; none: each match's (see Rule)
    bookmaker_id: RefId
    price_source: Literal["opening", "closing"]
    min_price: Price | None = None
    max_price: Price | None = None
    staking: Literal["flat", "kelly"]
    stake: Stake | None = None
    kelly_fraction: KellyFraction | None = None
    max_stake: Stake | None = None
    bankroll: Stake = Decimal("1000.00")
    closing_bookmaker_id: RefId | None = None

    @model_validator(mode="after")
    def _staking_fields(self) -> Self:
        if self.staking == "flat" and (self.stake is None or self.kelly_fraction is not None):
            raise ValueError("flat staking takes `stake` (and no `kelly_fraction`)")
        if self.staking == "kelly" and (self.kelly_fraction is None or self.stake is not None):
            raise ValueError("kelly staking takes `kelly_fraction` (and no `stake`)")
        return self

    def rule(self) -> Rule:
        """The rule the backtest runs (its cross-field checks raise InvalidInput, 422)."""
        return Rule(
            market=self.market,
            selection=self.selection,
            line=self.line,
            bookmaker_id=self.bookmaker_id,
            price_source=PriceSource(self.price_source),
            staking=StakingRule(
                Staking(self.staking),
                stake=self.stake,
                fraction=self.kelly_fraction,
                max_stake=self.max_stake,
            ),
            bankroll=self.bankroll,
            closing_bookmaker_id=self.closing_bookmaker_id,
            league=self.league,
            season=self.season,
            match_ids=tuple(self.match_ids) if self.match_ids is not None else None,
            kickoff_from=self.kickoff_from,
            kickoff_to=self.kickoff_to,
            min_price=self.min_price,
            max_price=self.max_price,
        )


class EquityPointRead(OutputModel):
    kickoff_at: UtcDatetime
    bets: int
    bankroll: MoneyOut


class SkippedRead(OutputModel):
    no_price: int
    outside_band: int
    no_probability: int
    no_edge: int
    bankroll: int


class BacktestRead(OutputModel):
    matches: int
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
    skipped: SkippedRead
    starting_bankroll: MoneyOut
    final_bankroll: MoneyOut
    max_drawdown: MoneyOut
    max_drawdown_rate: RatioOut | None
    equity: list[EquityPointRead]

    @classmethod
    def of(cls, ledger: Ledger) -> BacktestRead:
        """The summary of a run, in the /performance fields and more."""
        drawdown, drawdown_rate = ledger.max_drawdown
        return cls.model_validate(
            {
                "matches": ledger.matches,
                "bets": len(ledger.bets),
                "open": 0,
                "settled": len(ledger.decided),
                "void": ledger.void,
                "staked": ledger.staked,
                "returned": ledger.returned,
                "pnl": ledger.pnl,
                "roi": ledger.roi,
                "avg_clv": ledger.avg_clv,
                "beat_closing_rate": ledger.beat_closing_rate,
                "skipped": {k.value: v for k, v in ledger.skipped.items()},
                "starting_bankroll": ledger.starting_bankroll,
                "final_bankroll": ledger.final_bankroll,
                "max_drawdown": drawdown,
                "max_drawdown_rate": drawdown_rate,
                "equity": ledger.equity,
            }
        )
