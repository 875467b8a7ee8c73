"""Tenant-scoped trading repositories: strategies (with the atomic bankroll debit), bets,
and idempotency records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import and_, case, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert

from backend.models.trading import Bet, IdempotencyKey, Strategy
from backend.repositories.audit import AUDIT_KEY, AuditBuffer, AuditEntry, jsonable
from backend.repositories.base import TenantRepository

IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Debit:
    bankroll: Decimal
    version: int


class StrategyRepository(TenantRepository[Strategy]):
    model_type: ClassVar[type[Any]] = Strategy
    entity_name = "strategy"
    constraint_messages = {
        "uq_strategies_tenant_id_lower_name": "a strategy with this name already exists",
        "ck_strategies_bankroll_not_negative": "bankroll cannot go below zero",
    }

    def debit(self, strategy_id: uuid.UUID, stake: Decimal, actor: str) -> Debit | None:
        """Take `stake` from an active strategy's bankroll in one conditional UPDATE.

        None when the strategy is not active or the bankroll is short: the check and the
        write are one statement, so concurrent debits can never overdraw it.
        """
        stmt = (
            update(Strategy)
            .where(
                self.owned,
                Strategy.id == strategy_id,
                Strategy.status == "active",
                Strategy.bankroll >= stake,
            )
            .values(
                bankroll=Strategy.bankroll - stake,
                version=Strategy.version + 1,
                updated_at=func.statement_timestamp(),
                updated_by=actor,
            )
            .returning(Strategy.bankroll, Strategy.version)
            .execution_options(synchronize_session=False)
        )
        row = self.session.execute(stmt).one_or_none()
        if row is None:
            return None
        self._audit().record(
            AuditEntry(
                action="update",
                entity_type="strategy",
                entity_id=str(strategy_id),
                tenant_id=self.tenant_id,
                changes={"bankroll": [jsonable(row.bankroll + stake), jsonable(row.bankroll)]},
            )
        )
        return Debit(bankroll=row.bankroll, version=row.version)

    def _audit(self) -> AuditBuffer:
        buffer: AuditBuffer = self.session.info[AUDIT_KEY]
        return buffer


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


_SETTLED = Bet.status.in_(("won", "lost"))
# Each bet's return is rounded half-up to cents before it is added (PostgreSQL's round() on
# numeric rounds half away from zero, which is half-up for these positive amounts).
_RETURN = func.round(Bet.stake * Bet.price, 2)


class BetRepository(TenantRepository[Bet]):
    model_type: ClassVar[type[Any]] = Bet
    entity_name = "bet"
    constraint_messages = {
        "fk_bets_match_id_matches": "match_id names no match",
        "fk_bets_bookmaker_id_bookmakers": "bookmaker_id names no bookmaker",
        "fk_bets_tenant_id_strategy_id_strategies": "strategy_id names no strategy",
    }

    def performance(self, strategy_id: uuid.UUID) -> Performance:
        """Counts, money and CLV of one strategy's bets, in one aggregate statement."""
        with_clv = and_(_SETTLED, Bet.clv.is_not(None))
        stmt = self.scoped(
            select(
                func.count(),
                func.count().filter(Bet.status == "open"),
                func.count().filter(_SETTLED),
                func.count().filter(Bet.status == "void"),
                func.coalesce(func.sum(Bet.stake).filter(_SETTLED), 0),
                func.coalesce(func.sum(_RETURN).filter(Bet.status == "won"), 0),
                func.avg(Bet.clv).filter(with_clv),
                func.avg(case((Bet.clv > 0, 1), else_=0)).filter(with_clv),
            ).where(Bet.strategy_id == strategy_id)
        )
        bets, open_, settled, void, staked, returned, avg_clv, beat = self.session.execute(
            stmt
        ).one()
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
        """Strategies with a settled bet, by average CLV (nulls last), then P&L, then name."""
        staked = func.sum(Bet.stake)
        pnl = func.coalesce(func.sum(_RETURN).filter(Bet.status == "won"), 0) - staked
        avg_clv = func.avg(Bet.clv)
        stmt = (
            select(
                Strategy.id,
                Strategy.name,
                func.count().label("settled"),
                pnl.label("pnl"),
                (pnl / func.nullif(staked, 0)).label("roi"),
                avg_clv.label("avg_clv"),
            )
            .join(
                Strategy, and_(Strategy.id == Bet.strategy_id, Strategy.tenant_id == Bet.tenant_id)
            )
            .where(self.owned, _SETTLED)
            .group_by(Strategy.id, Strategy.name)
            .order_by(avg_clv.desc().nulls_last(), pnl.desc(), Strategy.name, Strategy.id)
            .limit(limit)
        )
        return [
            LeaderboardRow(
                rank=i,
                strategy_id=r.id,
                name=r.name,
                settled=r.settled,
                pnl=Decimal(r.pnl),
                roi=r.roi,
                avg_clv=r.avg_clv,
            )
            for i, r in enumerate(self.session.execute(stmt), start=1)
        ]


class IdempotencyRepository(TenantRepository[IdempotencyKey]):
    model_type: ClassVar[type[Any]] = IdempotencyKey
    entity_name = "idempotency key"

    def try_lock(self, key: str) -> bool:
        """Claim the key for this transaction without waiting: False while another request
        holding the same key is still in flight."""
        lock_id = f"{self.tenant_id}:{key}"
        return bool(
            self.session.scalar(
                select(func.pg_try_advisory_xact_lock(func.hashtextextended(lock_id, 0)))
            )
        )

    def find_live(self, key: str) -> IdempotencyKey | None:
        """The stored answer under this key, if it has not expired."""
        stmt = self.select().where(
            IdempotencyKey.key == key, IdempotencyKey.expires_at > func.now()
        )
        return self.session.scalars(stmt).one_or_none()

    def save(self, key: str, fingerprint: str, status_code: int, body: str) -> None:
        """Record the answer; an expired record under the same key is replaced."""
        values = {
            "tenant_id": self.tenant_id,
            "key": key,
            "fingerprint": fingerprint,
            "status_code": status_code,
            "response_body": body,
            "created_at": func.now(),
            "expires_at": func.now()
            + literal_column(f"interval '{_hours(IDEMPOTENCY_TTL)} hours'"),
        }
        stmt = insert(IdempotencyKey).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[IdempotencyKey.tenant_id, IdempotencyKey.key],
            set_={k: stmt.excluded[k] for k in values if k not in ("tenant_id", "key")},
            where=IdempotencyKey.expires_at <= func.now(),
        )
        self.session.execute(stmt)


def _hours(delta: timedelta) -> int:
    return int(delta.total_seconds() // 3600)


def purge_expired(session: Any) -> int:
    """Delete expired idempotency records of every tenant (needs an RLS-bypassing unit)."""
    result = session.execute(text("DELETE FROM idempotency_keys WHERE expires_at <= now()"))
    return int(result.rowcount or 0)
