"""The candidate bets of a backtest rule, selected set-based in one statement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from backend.repositories.settlement import CLOSING_MOMENT
from backend.repositories.sql import SqlRepository


@dataclass(frozen=True)
class Candidate:
    """A finished match of the rule's filters, with what the rule needs of its odds."""

    match_id: int
    kickoff_at: datetime
    league: str
    season: str
    home_team: str
    away_team: str
    home_score: int
    away_score: int
    price: Decimal | None  # at the rule's bookmaker and source, None: none
    closing_price: Decimal | None  # of the selection at the closing bookmaker, same line
    closing_market: Mapping[str, Decimal]  # every selection's closing price there, same line
    line: Decimal | None = None  # ah / ou: the line of `price`


class PriceSource(StrEnum):
    opening = "opening"  # the bookmaker's first snapshot at or before kickoff
    closing = "closing"  # its last snapshot at or before kickoff


@dataclass(frozen=True)
class CandidateFilter:
    market: str
    selection: str
    line: Decimal | None  # ah / ou: only this line; None: each match's (see services.backtests)
    bookmaker_id: int
    source: PriceSource
    closing_bookmaker_id: int | None  # None: the sharp bookmaker with the lowest id that has one
    league: str | None = None
    season: str | None = None
    match_ids: tuple[int, ...] | None = None
    kickoff_from: datetime | None = None
    kickoff_to: datetime | None = None


# Every finished match of the filters, in kickoff order, with: the price the rule takes (the
# bookmaker's first or last snapshot of the selection at or before kickoff; on a line market,
# at the rule's line, or else at the line quoted then whose price is nearest 2.0, then the
# lowest), the closing price of the selection at that same line (the last snapshot at or
# before kickoff at the closing bookmaker: the named one, or as settlement takes it, the sharp
# one with the lowest id that has one) and every selection's closing price of that line at
# that same bookmaker (for a margin-free probability); a line's closing price as settlement
# takes it (repositories/settlement.py, CLOSING_MOMENT). Each lateral walks the natural-key
# index (match, bookmaker, market, selection, line, captured_at).
_CANDIDATES = """
    SELECT m.id, m.kickoff_at, m.league, m.season, ht.name, aw.name,
           m.home_score, m.away_score, taken.price, closing.price,
           (SELECT coalesce(json_object_agg(last.selection, last.price::text), '{{}}')
              FROM (SELECT DISTINCT ON (o.selection) o.selection, o.price
                      FROM odds_snapshots o
                     WHERE o.match_id = m.id AND o.bookmaker_id = closing.bookmaker_id
                       AND o.market = %(market)s AND o.captured_at <= m.kickoff_at
                       AND o.line IS NOT DISTINCT FROM taken.line AND {closing_moment}
                     ORDER BY o.selection, o.captured_at DESC) last),
           taken.line
      FROM matches m
      JOIN teams ht ON ht.id = m.home_team_id
      JOIN teams aw ON aw.id = m.away_team_id
      LEFT JOIN LATERAL (
            SELECT o.price, o.line FROM odds_snapshots o
             WHERE o.match_id = m.id AND o.bookmaker_id = %(bookmaker)s
               AND o.market = %(market)s AND o.selection = %(selection)s
               AND o.captured_at <= m.kickoff_at
               AND (%(line)s::numeric IS NULL OR o.line = %(line)s::numeric)
             ORDER BY o.captured_at {order}, abs(o.price - 2), o.line LIMIT 1) taken ON true
      LEFT JOIN LATERAL (
            SELECT o.price, o.bookmaker_id FROM odds_snapshots o
              JOIN bookmakers bk ON bk.id = o.bookmaker_id
             WHERE o.match_id = m.id AND o.market = %(market)s
               AND o.selection = %(selection)s AND o.captured_at <= m.kickoff_at
               AND o.line IS NOT DISTINCT FROM taken.line AND {closing_moment}
               AND (CASE WHEN %(closing_book)s::integer IS NULL THEN bk.is_sharp
                         ELSE bk.id = %(closing_book)s::integer END)
             ORDER BY o.bookmaker_id, o.captured_at DESC LIMIT 1) closing ON true
     WHERE m.status = 'finished'
       AND (%(league)s::text IS NULL OR m.league = %(league)s::text)
       AND (%(season)s::text IS NULL OR m.season = %(season)s::text)
       AND (%(match_ids)s::integer[] IS NULL OR m.id = ANY (%(match_ids)s::integer[]))
       AND (%(kickoff_from)s::timestamptz IS NULL OR m.kickoff_at >= %(kickoff_from)s)
       AND (%(kickoff_to)s::timestamptz IS NULL OR m.kickoff_at < %(kickoff_to)s)
     ORDER BY m.kickoff_at, m.id
"""
_BY_SOURCE = {
    source: _CANDIDATES.format(
        order=order, closing_moment=CLOSING_MOMENT.format(kickoff="m.kickoff_at")
    )
    for source, order in ((PriceSource.opening, "ASC"), (PriceSource.closing, "DESC"))
}
_BOOKMAKERS_BY_NAME = "SELECT name, id FROM bookmakers WHERE name = ANY (%(names)s::text[])"
_MISSING_BOOKMAKERS = """
    SELECT wanted.id FROM unnest(%(ids)s::integer[]) AS wanted (id)
     WHERE NOT EXISTS (SELECT 1 FROM bookmakers b WHERE b.id = wanted.id)
     ORDER BY wanted.id
"""


class BacktestRepository(SqlRepository):
    """Reads only reference data (matches, teams, bookmakers, odds): any key may run one."""

    def missing_bookmakers(self, ids: list[int]) -> list[int]:
        return [row[0] for row in self._raw(_MISSING_BOOKMAKERS, {"ids": ids}).fetchall()]

    def bookmakers_by_name(self, names: list[str]) -> dict[str, int]:
        rows = self._raw(_BOOKMAKERS_BY_NAME, {"names": names}).fetchall()
        found: dict[str, int] = dict(rows)
        return found

    def candidates(self, f: CandidateFilter) -> list[Candidate]:
        rows = self._raw(
            _BY_SOURCE[f.source],
            {
                "market": f.market,
                "selection": f.selection,
                "line": f.line,
                "bookmaker": f.bookmaker_id,
                "closing_book": f.closing_bookmaker_id,
                "league": f.league,
                "season": f.season,
                "match_ids": list(f.match_ids) if f.match_ids is not None else None,
                "kickoff_from": f.kickoff_from,
                "kickoff_to": f.kickoff_to,
            },
        ).fetchall()
        return [
            Candidate(
                match_id=r[0],
                kickoff_at=r[1],
                league=r[2],
                season=r[3],
                home_team=r[4],
                away_team=r[5],
                home_score=r[6],
                away_score=r[7],
                price=r[8],
                closing_price=r[9],
                closing_market={k: Decimal(v) for k, v in r[10].items()},
                line=r[11],
            )
            for r in rows
        ]
