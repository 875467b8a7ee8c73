"""Tenant-owned trading data: strategies with bankrolls, bets, idempotency records."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, get_args

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.markets import MARKET_RULE_SQL, BetStatus
from backend.models.base import AuditMixin, Base, TenantMixin, TimestampMixin, VersionMixin

MONEY = Numeric(14, 2)
PRICE = Numeric(8, 3)
RATIO = Numeric(12, 4)
SHARE = Numeric(5, 4)  # 0-1, 4 places
LINE = Numeric(5, 2)  # a handicap or totals line, in quarter goals (core/markets.py)

STRATEGY_STATUSES = ("active", "paused", "killed")
_BET_STATUSES = ", ".join(repr(s) for s in get_args(BetStatus))  # 'open', 'won', ...


class Strategy(TenantMixin, TimestampMixin, AuditMixin, VersionMixin, Base):
    __tablename__ = "strategies"
    __audit_entity__: ClassVar[str | None] = "strategy"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'active'"))
    bankroll: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    initial_bankroll: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    max_stake: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    kill_reason: Mapped[str | None] = mapped_column(String(500))
    # Risk controls (NULL: off / the deployment's default); see migration 0011.
    max_match_exposure: Mapped[Decimal | None] = mapped_column(MONEY)
    price_tolerance: Mapped[Decimal | None] = mapped_column(SHARE)

    __table_args__ = (
        CheckConstraint("bankroll >= 0", name="bankroll_not_negative"),
        CheckConstraint("max_match_exposure > 0", name="max_match_exposure_positive"),
        CheckConstraint(
            "price_tolerance >= 0 AND price_tolerance <= 1", name="price_tolerance_share"
        ),
        CheckConstraint("initial_bankroll >= 0", name="initial_bankroll_not_negative"),
        CheckConstraint("max_stake > 0", name="max_stake_positive"),
        CheckConstraint("status IN ('active', 'paused', 'killed')", name="status_valid"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        # Lets bets reference (tenant_id, id): a bet can only name its own tenant's strategy.
        UniqueConstraint("tenant_id", "id"),
        Index(
            "uq_strategies_tenant_id_lower_name", "tenant_id", func.lower(text("name")), unique=True
        ),
        Index("ix_strategies_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
    )


class Bet(TenantMixin, AuditMixin, Base):
    __tablename__ = "bets"
    __audit_entity__: ClassVar[str | None] = "bet"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    strategy_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="RESTRICT"), nullable=False
    )
    bookmaker_id: Mapped[int] = mapped_column(
        ForeignKey("bookmakers.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    market: Mapped[str] = mapped_column(String(8), nullable=False)
    selection: Mapped[str] = mapped_column(String(8), nullable=False)
    line: Mapped[Decimal | None] = mapped_column(LINE)  # ah / ou only
    stake: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    price: Mapped[Decimal] = mapped_column(PRICE, nullable=False)
    potential_return: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'open'"))
    placed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closing_price: Mapped[Decimal | None] = mapped_column(PRICE)
    clv: Mapped[Decimal | None] = mapped_column(RATIO)
    pnl: Mapped[Decimal | None] = mapped_column(MONEY)

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "strategy_id"],
            ["strategies.tenant_id", "strategies.id"],
            ondelete="RESTRICT",
        ),
        CheckConstraint("stake > 0", name="stake_positive"),
        CheckConstraint("price >= 1.001 AND price <= 1000", name="price_range"),
        CheckConstraint(f"status IN ({_BET_STATUSES})", name="status_valid"),
        CheckConstraint(MARKET_RULE_SQL, name="market_selection_valid"),
        CheckConstraint("(status = 'open') = (settled_at IS NULL)", name="settled_iff_closed"),
        Index("ix_bets_tenant_id_placed_at_id", "tenant_id", "placed_at", "id"),
        Index("ix_bets_match_id_status", "match_id", "status"),
        # A strategy's open stakes on a match (its exposure limit), read from the index alone.
        Index(
            "ix_bets_open_tenant_id_strategy_id_match_id",
            "tenant_id",
            "strategy_id",
            "match_id",
            postgresql_where=text("status = 'open'"),
            postgresql_include=["stake"],
        ),
    )


class IdempotencyKey(Base):
    """The stored answer of a placed bet, so a retried request gets the same answer."""

    __tablename__ = "idempotency_keys"

    # The tenant comes first in the key: keys of different tenants never collide.
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # The exact bytes of the first answer (text, not JSONB, which would reorder its keys).
    response_body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)
