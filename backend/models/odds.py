"""Bookmaker prices: append-only, high volume, one row per (match, book, market, selection,
line, time); range-partitioned by `captured_at`, a partition per UTC year (core/history.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.history import partition_by
from backend.core.markets import MARKET_RULE_SQL
from backend.models.base import Base
from backend.models.trading import LINE, PRICE


class OddsSnapshot(Base):
    __tablename__ = "odds_snapshots"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="RESTRICT"), nullable=False
    )
    bookmaker_id: Mapped[int] = mapped_column(
        ForeignKey("bookmakers.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    market: Mapped[str] = mapped_column(String(8), nullable=False)
    selection: Mapped[str] = mapped_column(String(8), nullable=False)
    line: Mapped[Decimal | None] = mapped_column(LINE)  # ah / ou only (core/markets.py)
    price: Mapped[Decimal] = mapped_column(PRICE, nullable=False)
    # The partition key, so part of the primary key: (id, captured_at).
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)

    __table_args__ = (
        # Also the "latest as of" index: DISTINCT ON (bookmaker, market, selection, line)
        # ordered by captured_at DESC within one match walks it directly.
        UniqueConstraint(
            "match_id",
            "bookmaker_id",
            "market",
            "selection",
            "line",
            "captured_at",
            name="uq_odds_snapshots_natural_key",
            postgresql_nulls_not_distinct=True,  # one 1x2 price per moment, line or none
        ),
        Index("ix_odds_snapshots_match_id_captured_at_id", "match_id", "captured_at", "id"),
        CheckConstraint("price >= 1.001 AND price <= 1000", name="price_range"),
        CheckConstraint(MARKET_RULE_SQL, name="market_selection_valid"),
        {"postgresql_partition_by": partition_by("odds_snapshots")},
    )
