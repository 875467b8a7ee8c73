"""A backtest's per-bet rows as CSV: the same file from the API (`Accept: text/csv`) and the
command line (`--csv`)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from backend.core.money import round_half_up
from backend.services.backtest_ledger import Ledger

# One row per bet, in kickoff order (then match id).
CSV_COLUMNS = (
    "match_id",
    "kickoff_at",
    "league",
    "season",
    "home_team",
    "away_team",
    "market",
    "selection",
    "line",
    "price",
    "closing_price",
    "clv",
    "probability",
    "stake",
    "result",
    "returned",
    "pnl",
    "bankroll_before",
)


def _text(value: Decimal | None, places: int) -> str:
    return "" if value is None else str(round_half_up(value, places))


def bets_csv(ledger: Ledger, market: str, selection: str) -> str:
    """Prices with 3 places, ratios (clv, the model probability) 4, money 2; empty: none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for bet in ledger.bets:
        c = bet.candidate
        writer.writerow(
            (
                c.match_id,
                c.kickoff_at.isoformat().replace("+00:00", "Z"),
                c.league,
                c.season,
                c.home_team,
                c.away_team,
                market,
                selection,
                _text(c.line, 2),
                _text(c.price, 3),
                _text(c.closing_price, 3),
                _text(bet.clv, 4),
                _text(bet.probability, 4),
                _text(bet.stake, 2),
                bet.outcome.status,
                _text(bet.returned, 2),
                _text(bet.pnl, 2),
                _text(bet.bankroll_before, 2),
            )
        )
    return out.getvalue()
