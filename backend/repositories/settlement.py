"""Settling and voiding every open bet of a match, across tenants, in one statement each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.models.trading import Bet, Strategy
from backend.repositories.audit import AuditEntry, audit_buffer, audited_changes
from backend.repositories.locks import MARKET_LOCK

# The closing price of each (market, selection, line): the last snapshot at or before kickoff
# at the sharp bookmaker with the lowest id that has one. A bet's CLV is against the closing
# price of its own line (none there: no CLV), never another line's; and on a line market
# (ah, ou) a line is only closing if the bookmaker still quoted it in its last quote of the
# market before kickoff (CLOSING_MOMENT): a line it moved away from two days before has no
# closing price, not a stale one.
CLOSING_MOMENT = """(o.line IS NULL OR o.captured_at = (
            SELECT max(x.captured_at) FROM odds_snapshots x
             WHERE x.match_id = o.match_id AND x.bookmaker_id = o.bookmaker_id
               AND x.market = o.market AND x.captured_at <= {kickoff}))"""
_CLOSING = f"""
    closing AS (
        SELECT DISTINCT ON (o.market, o.selection, o.line) o.market, o.selection, o.line,
               o.price
          FROM odds_snapshots o
          JOIN bookmakers bk ON bk.id = o.bookmaker_id AND bk.is_sharp
         WHERE o.match_id = :match AND o.captured_at <= :kickoff
           AND {CLOSING_MOMENT.format(kickoff=":kickoff")}
         ORDER BY o.market, o.selection, o.line, o.bookmaker_id, o.captured_at DESC
    )"""
# How each open bet ends (the rule of core/markets.py): `d`, by how much its selection beat its
# line (the line-less markets: 1 won, -1 lost); a quarter line is two half-stakes at d - 0.25
# and d + 0.25; each half pays the price when it wins, 1 when it pushes, 0 when it loses.
_OUTCOME = """
      CROSS JOIN LATERAL (
            SELECT CASE o.market
                     WHEN '1x2' THEN CASE WHEN o.selection = :winner_1x2 THEN 1 ELSE -1 END
                     WHEN 'ou2.5' THEN CASE WHEN o.selection = :winner_ou THEN 1 ELSE -1 END
                     WHEN 'ah' THEN CASE WHEN o.selection = 'home' THEN :diff + o.line
                                         ELSE -(:diff + o.line) END
                     ELSE CASE WHEN o.selection = 'over' THEN :total - o.line
                               ELSE o.line - :total END
                   END AS d,
                   CASE WHEN mod(o.line * 4, 2) <> 0 THEN 0.25 ELSE 0 END AS split
      ) m
      CROSS JOIN LATERAL (SELECT sign(m.d - m.split) AS low, sign(m.d + m.split) AS high) h
      CROSS JOIN LATERAL (
            SELECT round(o.stake * (CASE h.low WHEN 1 THEN o.price WHEN 0 THEN 1 ELSE 0 END
                                    + CASE h.high WHEN 1 THEN o.price WHEN 0 THEN 1 ELSE 0 END)
                         * 0.5, 2) AS returned,
                   CASE WHEN h.low > 0 THEN 'won' WHEN h.high < 0 THEN 'lost'
                        WHEN h.low = 0 AND h.high = 0 THEN 'void'
                        WHEN h.high > 0 THEN 'half_won' ELSE 'half_lost' END AS status
      ) r"""
# Each bet's return is rounded half-up to cents before it is added; a strategy gets one credit
# (one version) however many of its bets settled, and none when nothing comes back.
_CREDIT = """
    credits AS (
        SELECT tenant_id, strategy_id, sum(returned) AS amount
          FROM changed GROUP BY tenant_id, strategy_id
    ), locked AS (
        -- The strategies' rows are locked in id order (one order for every settlement), so
        -- two settlements crediting the same strategies never deadlock.
        SELECT s.id FROM strategies s JOIN credits c ON c.strategy_id = s.id
         WHERE c.amount > 0 ORDER BY s.id FOR NO KEY UPDATE OF s
    ), credited AS (
        UPDATE strategies s
           SET bankroll = s.bankroll + c.amount, version = s.version + 1,
               updated_at = statement_timestamp(), updated_by = :actor
          FROM credits c JOIN locked l ON l.id = c.strategy_id
         WHERE s.id = c.strategy_id AND s.tenant_id = c.tenant_id AND c.amount > 0
        RETURNING s.id, s.tenant_id, s.bankroll::text AS bankroll, c.amount::text AS amount
    )
    SELECT (SELECT coalesce(json_agg(changed), '[]') FROM (
                SELECT id, tenant_id, strategy_id, status, pnl::text AS pnl,
                       closing_price::text AS closing_price, clv::text AS clv,
                       settled_at FROM changed) changed) AS bets,
           (SELECT coalesce(json_agg(credited), '[]') FROM credited) AS strategies
"""
_SETTLE = text(f"""
    WITH {_CLOSING}, changed AS (
        UPDATE bets b
           SET status = r.status,
               settled_at = statement_timestamp(),
               closing_price = c.price,
               clv = round(b.price / c.price - 1, 4),
               pnl = r.returned - b.stake,
               updated_by = :actor
          FROM bets o {_OUTCOME}
          LEFT JOIN closing c ON c.market = o.market AND c.selection = o.selection
                             AND c.line IS NOT DISTINCT FROM o.line
         WHERE b.id = o.id AND o.match_id = :match AND o.status = 'open'
        RETURNING b.id, b.tenant_id, b.strategy_id, b.status, b.pnl, b.closing_price, b.clv,
                  b.settled_at, r.returned
    ), {_CREDIT}
""")
_VOID = text(f"""
    WITH changed AS (
        UPDATE bets b
           SET status = 'void', settled_at = statement_timestamp(), pnl = 0,
               updated_by = :actor
         WHERE b.match_id = :match AND b.status = 'open'
        RETURNING b.id, b.tenant_id, b.strategy_id, b.status, b.pnl, b.closing_price, b.clv,
                  b.settled_at, b.stake AS returned
    ), {_CREDIT}
""")


@dataclass(frozen=True)
class Outcome:
    bets: int
    strategies: int


def _result(home: int, away: int) -> dict[str, Any]:
    winner = "home" if home > away else "away" if away > home else "draw"
    return {
        "winner_1x2": winner,
        "winner_ou": "over" if home + away >= 3 else "under",
        "diff": home - away,
        "total": home + away,
    }


# What a bet is before settlement: open, and its settlement columns (pnl, settled_at,
# closing_price, clv) still NULL (CHECK settled_iff_closed). Each settled or voided row the
# statements return (its id, tenant and the columns they set) is audited against it.
_OPEN_BET = {"status": "open"}

_CLOSE_MARKET = text(f"SELECT pg_advisory_xact_lock({MARKET_LOCK}, :match)")


class SettlementRepository:
    """Set-based settlement; records one audit entry per bet and per credited strategy."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def close_market(self, match_id: int) -> None:
        """Take the match's market lock exclusively, until the transaction ends: bets in
        flight on it finish first, bets arriving later wait and then find it closed, and no
        stream of bettors can starve the close (see repositories.locks)."""
        if 0 < match_id < 2**31:  # a larger id names no match: nothing to lock
            self.session.execute(_CLOSE_MARKET, {"match": match_id})

    def settle(self, match_id: int, kickoff: Any, home: int, away: int, actor: str) -> Outcome:
        params = {"match": match_id, "kickoff": kickoff, "actor": actor, **_result(home, away)}
        return self._apply(_SETTLE, params, "settle")

    def void(self, match_id: int, actor: str) -> Outcome:
        return self._apply(_VOID, {"match": match_id, "actor": actor}, "void")

    def _apply(self, statement: Any, params: dict[str, Any], action: str) -> Outcome:
        bets, strategies = self.session.execute(statement, params).one()
        audit = audit_buffer(self.session)
        match_id = params["match"]
        for bet in bets:
            ident, tenant = bet.pop("id"), uuid.UUID(bet.pop("tenant_id"))
            subject = {"strategy_id": bet.pop("strategy_id"), "match_id": match_id}
            changes = audited_changes(Bet, _OPEN_BET, bet)
            audit.record(AuditEntry(action, "bet", ident, tenant, changes, subject))
        for credit in strategies:
            new = Decimal(credit["bankroll"])
            old = new - Decimal(credit["amount"])
            changes = audited_changes(Strategy, {"bankroll": old}, {"bankroll": new})
            audit.record(
                AuditEntry(
                    "update", "strategy", credit["id"], uuid.UUID(credit["tenant_id"]), changes
                )
            )
        return Outcome(bets=len(bets), strategies=len(strategies))
