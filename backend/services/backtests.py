"""Backtests: what a betting rule would have done on the finished matches in the database.

A backtest reads reference data only (matches, teams, bookmakers, odds) and writes nothing: no
bet, no bankroll change, no audit entry. The same rule gives the same figures every time, to
the cent, for as long as the history it reads does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from backend.core.errors import InvalidInput
from backend.core.markets import LINE_MARKETS, MARKETS, line_error
from backend.repositories.backtests import CandidateFilter, PriceSource
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.backtest_ledger import Ledger, StakingRule, run
from backend.services.use_case import use_case


@dataclass(frozen=True)
class Rule:
    """A betting rule. On `ah` and `ou`, `line` keeps only that line; without it, each match is
    taken at the line the bookmaker quoted at the rule's moment (if it quoted several then,
    the one whose price is nearest even money, 2.0; then the lowest line); CLV and the
    margin-free probability are always of that same line."""

    market: str
    selection: str
    bookmaker_id: int
    price_source: PriceSource
    staking: StakingRule
    bankroll: Decimal
    closing_bookmaker_id: int | None = None
    league: str | None = None
    season: str | None = None
    match_ids: tuple[int, ...] | None = None
    kickoff_from: datetime | None = None
    kickoff_to: datetime | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    line: Decimal | None = None

    def __post_init__(self) -> None:
        if self.selection not in MARKETS.get(self.market, ()):
            raise InvalidInput(f"selection {self.selection!r} is not one of market {self.market}")
        if self.line is not None or self.market not in LINE_MARKETS:
            problem = line_error(self.market, self.line)
            if problem:
                raise InvalidInput(problem, loc=("body", "line"))
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise InvalidInput("min_price is above max_price", loc=("body", "min_price"))
        if (
            self.kickoff_from is not None
            and self.kickoff_to is not None
            and self.kickoff_from >= self.kickoff_to
        ):
            raise InvalidInput(
                "kickoff_from is not before kickoff_to", loc=("body", "kickoff_from")
            )

    def candidate_filter(self) -> CandidateFilter:
        return CandidateFilter(
            market=self.market,
            selection=self.selection,
            line=self.line,
            bookmaker_id=self.bookmaker_id,
            source=self.price_source,
            closing_bookmaker_id=self.closing_bookmaker_id,
            league=self.league,
            season=self.season,
            match_ids=self.match_ids,
            kickoff_from=self.kickoff_from,
            kickoff_to=self.kickoff_to,
        )


@use_case
def backtest(uow: UnitOfWork, rule: Rule) -> Ledger:
    """Every candidate bet in one statement, then staked and settled in kickoff order."""
    repo = uow.backtests
    named = {"bookmaker_id": rule.bookmaker_id, "closing_bookmaker_id": rule.closing_bookmaker_id}
    missing = set(repo.missing_bookmakers([v for v in named.values() if v is not None]))
    for field, ident in named.items():
        if ident in missing:
            raise InvalidInput(
                f"{field} names no bookmaker",
                loc=("body", field),
                code="invalid-reference",
                title="Unknown reference",
            )
    return run(
        repo.candidates(rule.candidate_filter()),
        market=rule.market,
        selection=rule.selection,
        selections=len(MARKETS[rule.market]),
        staking=rule.staking,
        bankroll=rule.bankroll,
        min_price=rule.min_price,
        max_price=rule.max_price,
    )


@use_case
def bookmaker_ids(uow: UnitOfWork, names: list[str]) -> dict[str, int]:
    """Bookmakers named by id or by exact name (for the command line): name or digits -> id.
    A name no bookmaker has is left out (the rule then refuses it)."""
    found = {n: int(n) for n in names if n.isascii() and n.isdigit()}
    wanted = [n for n in names if n not in found]
    if wanted:
        found.update(uow.backtests.bookmakers_by_name(wanted))
    return found
