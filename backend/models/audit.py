"""The append-only audit log: one row per created, changed or deleted audited entity;
range-partitioned by `occurred_at`, a partition per UTC year (core/history.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, String, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.history import partition_by
from backend.models.base import Base

AUDIT_ACTIONS = ("create", "update", "delete", "kill", "pause", "resume", "settle", "void")
AUDIT_ENTITY_TYPES = (
    "team",
    "bookmaker",
    "match",
    "tenant",
    "api_key",
    "strategy",
    "bet",
    "webhook_endpoint",
)


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The partition key, so part of the primary key: (id, occurred_at).
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(64), nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    change_reason: Mapped[str | None] = mapped_column(String(500))
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        CheckConstraint(_in_list("action", AUDIT_ACTIONS), name="action_valid"),
        CheckConstraint(_in_list("entity_type", AUDIT_ENTITY_TYPES), name="entity_type_valid"),
        Index("ix_audit_log_tenant_id_occurred_at_id", "tenant_id", "occurred_at", "id"),
        Index("ix_audit_log_entity_type_entity_id", "entity_type", "entity_id"),
        {"postgresql_partition_by": partition_by("audit_log")},
    )
