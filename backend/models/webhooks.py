"""Webhook endpoints of a tenant, the deliveries of events to them, and every attempt.

Tenant-scoped with row-level security like `strategies`. A delivery is one event for one
endpoint; its id (`msg_...`) is the `webhook-id` header, the same on every retry, so a
receiver can drop duplicates. `event_dispatch_cursor` holds the one position, in the events'
(txid, id) order, up to which events were fanned out into deliveries.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import AuditMixin, Base, TenantMixin, TimestampMixin, VersionMixin

ENDPOINT_STATUSES = ("active", "disabled")
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "dead")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class WebhookEndpoint(TenantMixin, TimestampMixin, AuditMixin, VersionMixin, Base):
    __tablename__ = "webhook_endpoints"
    __audit_entity__: ClassVar[str | None] = "webhook_endpoint"
    __audit_excluded__: ClassVar[frozenset[str]] = frozenset({"secret"})

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    # Empty: every event type.
    event_types: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), nullable=False, server_default=sql_text("'{}'")
    )
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="active")
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    disabled_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        CheckConstraint(_in("status", ENDPOINT_STATUSES), name="status_valid"),
        CheckConstraint("secret LIKE 'whsec_%'", name="secret_format"),
        UniqueConstraint("tenant_id", "id"),
        Index("ix_webhook_endpoints_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
    )


class WebhookDelivery(TenantMixin, Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # msg_<uuid hex>
    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status_valid"),
        # An endpoint's deliveries go with it (the endpoint is deleted whole).
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("endpoint_id", "event_id"),
        Index(
            "ix_webhook_deliveries_tenant_id_endpoint_id_created_at_id",
            "tenant_id",
            "endpoint_id",
            "created_at",
            "id",
        ),
    )


class WebhookAttempt(TenantMixin, Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),)


class EventDispatchCursor(Base):
    """One row (id 1): the last event, in (txid, id) order, fanned out into deliveries."""

    __tablename__ = "event_dispatch_cursor"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    event_id: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
