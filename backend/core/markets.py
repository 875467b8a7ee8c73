"""The markets a price or a bet is on, the lines they take, and how a bet on each settles.

- `1x2`: home, draw or away, by the full-time result. No line.
- `ou2.5`: over or under 2.5 goals. No line (the 2.5 line is this market, as it always was).
- `ah` (Asian handicap): home or away, with `line` the **home team's** handicap in quarter
  goals (-0.5: home gives half a goal; the away side of the same line gets +0.5).
- `ou` (totals at any other line): over or under `line` goals, in quarter goals, not 2.5.

A whole line (-1, 0, 2) can push: the stake comes back and the bet is `void`. A quarter line
(-0.25, 2.75) is two half-stakes on the neighbouring lines (-0.25 = half at 0, half at -0.5),
so a bet can end `half_won` (half won, half pushed) or `half_lost` (half lost, half pushed).
What comes back is `stake x (w1 + w2) / 2` over the two halves (w: the price when that half
wins, 1 when it pushes, 0 when it loses), rounded half-up to cents once per bet. The settling
SQL (repositories/settlement.py) and the backtests (services/backtest_ledger.py) both apply
this rule; tests check one against the other on real matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from backend.core.money import round_half_up

Market = Literal["1x2", "ou2.5", "ah", "ou"]
Selection = Literal["home", "draw", "away", "over", "under"]
BetStatus = Literal["open", "won", "lost", "half_won", "half_lost", "void"]
MARKETS: dict[str, tuple[str, ...]] = {
    "1x2": ("home", "draw", "away"),
    "ou2.5": ("over", "under"),
    "ah": ("home", "away"),
    "ou": ("over", "under"),
}
LINE_MARKETS = frozenset({"ah", "ou"})
SELECTIONS: tuple[str, ...] = get_args(Selection)
QUARTER = Decimal("0.25")
AH_LINE_MAX = Decimal(10)  # |line| of a handicap
OU_LINE_MIN, OU_LINE_MAX = Decimal("0.25"), Decimal(20)
OU25_LINE = Decimal("2.5")

# What the CHECK constraints of odds_snapshots and bets hold (migration 0012 has this text).
MARKET_RULE_SQL = (
    "(market = '1x2' AND selection IN ('home', 'draw', 'away') AND line IS NULL) OR "
    "(market = 'ou2.5' AND selection IN ('over', 'under') AND line IS NULL) OR "
    "(market = 'ah' AND selection IN ('home', 'away') AND line BETWEEN -10 AND 10 "
    "AND line * 4 = trunc(line * 4)) OR "
    "(market = 'ou' AND selection IN ('over', 'under') AND line BETWEEN 0.25 AND 20 "
    "AND line <> 2.5 AND line * 4 = trunc(line * 4))"
)

WON, LOST, VOID, HALF_WON, HALF_LOST = "won", "lost", "void", "half_won", "half_lost"
SETTLED_STATUSES = (WON, LOST, HALF_WON, HALF_LOST)  # a result decided the bet


def selection_error(market: str, selection: str) -> str | None:
    """Why `selection` is not one of `market`'s (None: it is)."""
    if selection in MARKETS[market]:
        return None
    return f"selection for market {market} must be one of: {', '.join(MARKETS[market])}"


def line_error(market: str, line: Decimal | None) -> str | None:
    """Why `line` does not fit `market` (None: it fits)."""
    if market not in LINE_MARKETS:
        return None if line is None else f"market {market} takes no line"
    if line is None:
        return f"market {market} needs a line"
    if not line.is_finite() or line % QUARTER != 0:
        return "line must be a whole, half or quarter goal (e.g. -0.75, 0, 2.25)"
    if market == "ah" and abs(line) > AH_LINE_MAX:
        return f"an ah line is from -{AH_LINE_MAX} to {AH_LINE_MAX}"
    if market == "ou":
        if line == OU25_LINE:
            return "the 2.5 goals line is market ou2.5 (with no line)"
        if not OU_LINE_MIN <= line <= OU_LINE_MAX:
            return f"an ou line is from {OU_LINE_MIN} to {OU_LINE_MAX}"
    return None


@dataclass(frozen=True)
class Outcome:
    status: str
    returned: Decimal  # what the bet pays back, stake included, in cents

    @property
    def closed(self) -> bool:
        return self.status in SETTLED_STATUSES


def margin(market: str, selection: str, line: Decimal | None, home: int, away: int) -> Decimal:
    """By how much the selection beat its line (> 0 won, 0 push, < 0 lost); the line-less
    markets answer 1 or -1."""
    if market == "1x2":
        winner = "home" if home > away else "away" if away > home else "draw"
        return Decimal(1 if selection == winner else -1)
    if market == "ou2.5":
        over = home + away >= 3
        return Decimal(1 if (selection == "over") == over else -1)
    if line is None:
        raise ValueError(f"market {market} needs a line")
    if market == "ah":
        diff = Decimal(home - away)
        return diff + line if selection == "home" else -diff - line
    if market == "ou":
        total = Decimal(home + away)
        return total - line if selection == "over" else line - total
    raise ValueError(f"unknown market {market!r}")


def settle(
    market: str,
    selection: str,
    line: Decimal | None,
    home: int,
    away: int,
    stake: Decimal,
    price: Decimal,
) -> Outcome:
    """The outcome of a bet at a final score (see the module's rule)."""
    d = margin(market, selection, line, home, away)
    split = QUARTER if line is not None and (line / QUARTER) % 2 != 0 else Decimal(0)
    low, high = _sign(d - split), _sign(d + split)
    weight = sum((price if s > 0 else Decimal(1) if s == 0 else Decimal(0)) for s in (low, high))
    returned = round_half_up(stake * weight / 2, 2)
    if low > 0:
        status = WON
    elif high < 0:
        status = LOST
    elif low == 0 and high == 0:
        status = VOID
    else:
        status = HALF_WON if high > 0 else HALF_LOST
    return Outcome(status, returned)


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)
