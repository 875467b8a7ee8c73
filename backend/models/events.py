"""The transactional outbox: one append-only row per domain event, written in the same
transaction as the change it announces (repositories/events.py).

`txid` is the writing transaction's id. Readers take events in (txid, id) order and only from
transactions older than every one still running (`pg_snapshot_xmin`), so an event committed
after a reader passed its position can never appear behind it: ids are handed out before
commit, in another order than transactions commit, but no transaction below the horizon can
still add one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, String, Uuid, func
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base

EventType = Literal[
    "bet.placed",
    "bet.settled",
    "bet.voided",
    "strategy.created",
    "strategy.updated",
    "strategy.killed",
    "strategy.resumed",
    "match.result",
    "match.cancelled",
    "odds.ingested",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    txid: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=sql_text("(pg_current_xact_id()::text::bigint)")
    )
    # NULL: a reference event (a match's result, an odds batch), seen by every tenant.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        CheckConstraint(f"type IN ({', '.join(repr(t) for t in EVENT_TYPES)})", name="type_valid"),
        Index("ix_events_txid_id", "txid", "id"),
        Index("ix_events_tenant_id_txid_id", "tenant_id", "txid", "id"),
    )
