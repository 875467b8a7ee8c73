"""Bets of one tenant: placing one (the debit and the bet in one statement, its audit
entries), why a debit was refused, a strategy's performance and the leaderboard."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import and_, bindparam, case, func, select

from backend.core.markets import SETTLED_STATUSES
from backend.models.trading import Bet, Strategy
from backend.repositories.audit import AuditEntry, audit_buffer, audited_changes, audited_values
from backend.repositories.bet_placement import (
    DEBIT_AND_INSERT,
    PLACEMENT_CONTEXT,
    REFUSAL,
    LatestPrice,
    PlacedBet,
    PlacementContext,
    Refusal,
    StoredAnswer,
)
from backend.repositories.pages import View
from backend.repositories.sql import driver_params
from backend.repositories.tenant import TenantRepository

_LEADERBOARD = """
    SELECT strategy_id, name, settled, staked, pnl, avg_clv FROM tenant_leaderboard
     ORDER BY avg_clv DESC NULLS LAST, pnl DESC, name, strategy_id
     LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Performance:
    bets: int
    open: int
    settled: int
    void: int
    staked: Decimal
    returned: Decimal
    pnl: Decimal
    roi: Decimal | None
    avg_clv: Decimal | None
    beat_closing_rate: Decimal | None


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    strategy_id: uuid.UUID
    name: str
    settled: int
    pnl: Decimal
    roi: Decimal | None
    avg_clv: Decimal | None


_SETTLED = Bet.status.in_(SETTLED_STATUSES)  # a result decided it (void: it was refunded)
# What a decided bet paid back, stake included, as settlement rounded it (half-up to cents,
# once per bet): its pnl plus its stake (a half won bet's return is not stake x price).
_RETURN = Bet.pnl + Bet.stake


class BetRepository(TenantRepository[Bet]):
    model_type: ClassVar[type[Any]] = Bet
    entity_name = "bet"
    list_view = View.of(
        Bet,
        (
            "id",
            "strategy_id",
            "match_id",
            "bookmaker_id",
            "market",
            "selection",
            "line",
            "stake",
            "price",
            "potential_return",
            "status",
            "placed_at",
            "settled_at",
            "closing_price",
            "clv",
            "pnl",
            "created_by",
        ),
    )
    constraint_messages = {
        "fk_bets_match_id_matches": "match_id names no match",
        "fk_bets_bookmaker_id_bookmakers": "bookmaker_id names no bookmaker",
        "fk_bets_tenant_id_strategy_id_strategies": "strategy_id names no strategy",
    }

    def placement_context(
        self,
        strategy_id: uuid.UUID,
        match_id: int,
        bookmaker_id: int,
        market: str,
        selection: str,
        line: Decimal | None,
        idempotency_key: str,
    ) -> PlacementContext:
        """Why `place` placed nothing, read under the locks it took: whether it claimed the
        idempotency key, the strategy (this tenant's only), the match, the bookmaker, the live
        answer stored under the key and the bookmaker's latest price of the selection. When
        the key is held by a request still in flight, `locked` is False and the rest must not
        be used."""
        row = self._raw(
            PLACEMENT_CONTEXT,
            {
                "tenant": str(self.tenant_id),
                "strategy": str(strategy_id),
                "match": match_id,
                "bookmaker": bookmaker_id,
                "market": market,
                "selection": selection,
                "line": line,
                "key": idempotency_key,
            },
        ).fetchone()
        locked, strategy_status, max_stake, match_status, kickoff_at, bookmaker_exists = row[:6]
        stored = StoredAnswer(row[7], row[8], row[9]) if row[6] else None
        tolerance, latest_price, captured_at = row[10:13]
        return PlacementContext(
            locked,
            strategy_status,
            max_stake,
            match_status,
            kickoff_at,
            bookmaker_exists,
            stored,
            price_tolerance=tolerance,
            latest=LatestPrice(latest_price, captured_at) if latest_price is not None else None,
        )

    def place(
        self,
        values: dict[str, Any],
        actor: str,
        *,
        idempotency_key: str,
        default_price_tolerance: Decimal,
    ) -> tuple[PlacedBet, Decimal] | None:
        """Take the bet's locks, debit the strategy and insert the bet: one round trip, the
        debit and the insert ONE statement.

        The debit is the conditional UPDATE (the key claimed with no answer stored under it;
        the strategy active, the stake within max_stake and bankroll and, with the strategy's
        open bets on the match, within max_match_exposure; the match still scheduled and
        before kickoff; the bookmaker known; the price within the guard) and the bet is only
        inserted from its RETURNING row: every rule is checked against the row being
        updated, after any lock wait, so concurrent bets, risk changes and settlements can
        never slip past one. None when a rule refused it (`placement_context`, then
        `refusal`, tell which).
        """
        params = {
            **values,
            "lock_id": f"{self.tenant_id}:{idempotency_key}",  # hashed to the lock's key
            "key": idempotency_key,
            "default_price_tolerance": default_price_tolerance,
            "tenant_id": self.tenant_id,
            "actor": actor,
        }
        cursor = self._raw(DEBIT_AND_INSERT, driver_params(params))
        found = cursor.fetchone()
        if found is None:
            return None
        row = PlacedBet(**dict(zip((d.name for d in cursor.description), found, strict=True)))
        new_bankroll: Decimal = row.new_bankroll
        stake: Decimal = values["stake"]
        audit = audit_buffer(self._source)  # the unit itself: no ORM session needed
        created = audited_values(Bet, vars(row))
        audit.record(AuditEntry("create", "bet", str(row.id), self.tenant_id, created))
        debited = audited_changes(
            Strategy, {"bankroll": new_bankroll + stake}, {"bankroll": new_bankroll}
        )
        strategy = str(values["strategy_id"])
        audit.record(AuditEntry("update", "strategy", strategy, self.tenant_id, debited))
        return row, new_bankroll

    def refusal(self, strategy_id: uuid.UUID, match_id: int) -> Refusal:
        """What refused a debit that found no row (see `place`)."""
        row = self.session.execute(
            REFUSAL, {"tenant": self.tenant_id, "strategy": strategy_id, "match": match_id}
        ).one()
        return Refusal(
            row.status,
            row.max_stake,
            row.bankroll,
            bool(row.open),
            row.max_match_exposure,
            Decimal(row.open_stakes),
        )

    # The strategy's existence and its bets' aggregate in one statement, built and compiled
    # once, run on the DBAPI cursor (no SQLAlchemy result machinery per request).
    _performance: ClassVar[tuple[str, dict[str, Any]] | None] = None

    def performance(self, strategy_id: uuid.UUID) -> Performance | None:
        """Counts, money and CLV of one strategy's bets, in one aggregate statement (None: no
        such strategy of this tenant)."""
        built = BetRepository._performance
        if built is None:
            with_clv = and_(_SETTLED, Bet.clv.is_not(None))
            strategy = bindparam("strategy", type_=Bet.strategy_id.type, required=False)
            tenant = bindparam("tenant", type_=Bet.tenant_id.type, required=False)
            found = (
                select(Strategy.id)
                .where(Strategy.id == strategy, Strategy.tenant_id == tenant)
                .exists()
            )
            stmt = select(
                found,
                func.count(),
                func.count().filter(Bet.status == "open"),
                func.count().filter(_SETTLED),
                func.count().filter(Bet.status == "void"),
                func.coalesce(func.sum(Bet.stake).filter(_SETTLED), 0),
                func.coalesce(func.sum(_RETURN).filter(_SETTLED), 0),
                func.avg(Bet.clv).filter(with_clv),
                func.avg(case((Bet.clv > 0, 1), else_=0)).filter(with_clv),
            ).where(Bet.strategy_id == strategy, Bet.tenant_id == tenant)
            built = BetRepository._performance = self.compiled_with_constants(stmt)
        sql, constants = built
        params = {**constants, "strategy": str(strategy_id), "tenant": str(self.tenant_id)}
        row = self._raw(sql, params).fetchone()
        exists, bets, open_, settled, void, staked, returned, avg_clv, beat = row
        if not exists:
            return None
        pnl = Decimal(returned) - Decimal(staked)
        return Performance(
            bets=bets,
            open=open_,
            settled=settled,
            void=void,
            staked=Decimal(staked),
            returned=Decimal(returned),
            pnl=pnl,
            roi=pnl / Decimal(staked) if staked else None,
            avg_clv=avg_clv,
            beat_closing_rate=beat,
        )

    def leaderboard(self, limit: int) -> list[LeaderboardRow]:
        """Strategies with a settled bet, by average CLV (nulls last), then P&L, then name.

        Read from the materialized view (through the tenant-filtered view over it), which
        settlement refreshes once it has committed.
        """
        rows = self._raw(_LEADERBOARD, {"limit": limit}).fetchall()
        return [
            LeaderboardRow(
                rank=i,
                strategy_id=strategy_id,
                name=name,
                settled=settled,
                pnl=pnl,
                roi=pnl / staked if staked else None,
                avg_clv=avg_clv,
            )
            for i, (strategy_id, name, settled, staked, pnl, avg_clv) in enumerate(rows, start=1)
        ]
