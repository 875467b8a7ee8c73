"""What a rule would have done: stakes, outcomes and the bankroll over candidate bets.

Pure domain logic (no I/O): the repository selects every candidate bet set-based (a finished
match, the price the rule takes, the closing line), and this module stakes and settles them
in kickoff order with the same arithmetic as settlement: each return rounded half-up to
cents, `clv = price / closing - 1` rounded half-up to 4 places.

Bets on matches that kick off at the same time are placed together: their stakes come out
of the bankroll as it stood before that kickoff (a desk cannot use a return before the match
is over), and a bet whose stake the rest of that bankroll cannot cover is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from itertools import groupby

from backend.core.markets import Outcome, settle
from backend.core.money import round_half_up
from backend.repositories.backtests import Candidate

CENT = Decimal("0.01")


class Staking(StrEnum):
    flat = "flat"
    kelly = "kelly"


class Skip(StrEnum):
    """Why a finished match matching the filters got no bet."""

    no_price = "no_price"  # the rule's bookmaker had no price for it
    outside_band = "outside_band"  # the price was outside min_price..max_price
    no_probability = "no_probability"  # kelly: no complete closing market to take p from
    no_edge = "no_edge"  # kelly: the stake came to less than a cent
    bankroll = "bankroll"  # what was left of the bankroll could not cover the stake


@dataclass(frozen=True)
class StakingRule:
    kind: Staking
    stake: Decimal | None = None  # flat
    fraction: Decimal | None = None  # kelly: the share of the full Kelly stake
    max_stake: Decimal | None = None  # either: no single stake above it

    def __post_init__(self) -> None:
        if self.kind is Staking.flat and self.stake is None:
            raise ValueError("flat staking needs a stake")
        if self.kind is Staking.kelly and self.fraction is None:
            raise ValueError("kelly staking needs a fraction")


@dataclass(frozen=True)
class LedgerBet:
    candidate: Candidate
    stake: Decimal
    probability: Decimal | None
    outcome: Outcome  # its status and what it paid back, as settlement would have it
    clv: Decimal | None
    bankroll_before: Decimal  # the bankroll as it stood before this bet's kickoff

    @property
    def returned(self) -> Decimal:
        return self.outcome.returned

    @property
    def pnl(self) -> Decimal:
        return self.returned - self.stake


@dataclass(frozen=True)
class EquityPoint:
    kickoff_at: datetime
    bets: int
    bankroll: Decimal


@dataclass
class Ledger:
    starting_bankroll: Decimal
    matches: int = 0
    bets: list[LedgerBet] = field(default_factory=list)
    skipped: dict[Skip, int] = field(default_factory=lambda: dict.fromkeys(Skip, 0))
    equity: list[EquityPoint] = field(default_factory=list)

    @property
    def decided(self) -> list[LedgerBet]:
        """The bets a result decided (as /performance counts them: a push is void, refunded,
        and counts in neither the stakes nor the CLV)."""
        return [b for b in self.bets if b.outcome.closed]

    @property
    def void(self) -> int:
        return len(self.bets) - len(self.decided)

    @property
    def staked(self) -> Decimal:
        return sum((b.stake for b in self.decided), Decimal("0.00"))

    @property
    def returned(self) -> Decimal:
        return sum((b.returned for b in self.decided), Decimal("0.00"))

    @property
    def pnl(self) -> Decimal:
        return self.returned - self.staked

    @property
    def final_bankroll(self) -> Decimal:
        return self.starting_bankroll + self.pnl

    @property
    def roi(self) -> Decimal | None:
        return self.pnl / self.staked if self.staked else None

    @property
    def avg_clv(self) -> Decimal | None:
        clvs = [b.clv for b in self.decided if b.clv is not None]
        return sum(clvs, Decimal(0)) / len(clvs) if clvs else None

    @property
    def beat_closing_rate(self) -> Decimal | None:
        clvs = [b.clv for b in self.decided if b.clv is not None]
        return Decimal(sum(1 for c in clvs if c > 0)) / len(clvs) if clvs else None

    @property
    def max_drawdown(self) -> tuple[Decimal, Decimal | None]:
        """The largest fall from a running peak of the bankroll (the start included), and
        that fall as a share of its peak (None while the peak is 0)."""
        peak, worst, share = self.starting_bankroll, Decimal("0.00"), None
        for point in self.equity:
            peak = max(peak, point.bankroll)
            fall = peak - point.bankroll
            if fall > worst:
                worst, share = fall, (fall / peak if peak else None)
        return worst, (share if worst else Decimal(0))


def fair_probability(
    selection: str, market: Mapping[str, Decimal], selections: int
) -> Decimal | None:
    """The selection's probability with the bookmaker's margin taken out (its inverse price
    over the sum of the market's inverse prices); None unless every selection is priced."""
    if len(market) != selections or selection not in market:
        return None
    return (1 / market[selection]) / sum(1 / p for p in market.values())


def kelly_stake(
    probability: Decimal, price: Decimal, fraction: Decimal, bankroll: Decimal
) -> Decimal:
    """`fraction` of the Kelly stake (p*d - 1)/(d - 1) of `bankroll`, half-up to cents; 0
    when the price has no edge at that probability."""
    edge = (probability * price - 1) / (price - 1)
    return max(round_half_up(fraction * edge * bankroll, 2), Decimal("0.00"))


def run(
    candidates: Iterable[Candidate],
    *,
    market: str,
    selection: str,
    selections: int,
    staking: StakingRule,
    bankroll: Decimal,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> Ledger:
    """Stake and settle `candidates` (ordered by kickoff, then match id)."""
    ledger = Ledger(starting_bankroll=bankroll)
    for kickoff_at, group in groupby(candidates, key=lambda c: c.kickoff_at):
        before = ledger.final_bankroll
        placed = _place_group(
            ledger,
            list(group),
            before,
            market,
            selection,
            selections,
            staking,
            min_price,
            max_price,
        )
        if placed:
            ledger.bets.extend(placed)
            ledger.equity.append(EquityPoint(kickoff_at, len(placed), ledger.final_bankroll))
    return ledger


def _place_group(
    ledger: Ledger,
    group: Sequence[Candidate],
    before: Decimal,
    market: str,
    selection: str,
    selections: int,
    staking: StakingRule,
    min_price: Decimal | None,
    max_price: Decimal | None,
) -> list[LedgerBet]:
    placed: list[LedgerBet] = []
    available = before
    for c in group:
        ledger.matches += 1
        if c.price is None:
            ledger.skipped[Skip.no_price] += 1
            continue
        if (min_price is not None and c.price < min_price) or (
            max_price is not None and c.price > max_price
        ):
            ledger.skipped[Skip.outside_band] += 1
            continue
        probability = fair_probability(selection, c.closing_market, selections)
        if staking.kind is Staking.flat:
            assert staking.stake is not None
            stake = staking.stake
        elif probability is None:
            ledger.skipped[Skip.no_probability] += 1
            continue
        else:
            assert staking.fraction is not None
            stake = kelly_stake(probability, c.price, staking.fraction, before)
        if staking.max_stake is not None:
            stake = min(stake, staking.max_stake)
        if stake < CENT:
            ledger.skipped[Skip.no_edge] += 1
            continue
        if stake > available:
            ledger.skipped[Skip.bankroll] += 1
            continue
        available -= stake
        outcome = settle(
            market, selection, c.line, c.home_score, c.away_score, stake=stake, price=c.price
        )
        placed.append(
            LedgerBet(
                candidate=c,
                stake=stake,
                probability=probability,
                outcome=outcome,
                clv=round_half_up(c.price / c.closing_price - 1, 4) if c.closing_price else None,
                bankroll_before=before,
            )
        )
    return placed
