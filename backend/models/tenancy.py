"""Tenants (funds, syndicates) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Uuid,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import AuditMixin, Base, TimestampMixin, VersionMixin


class Tenant(TimestampMixin, AuditMixin, VersionMixin, Base):
    __tablename__ = "tenants"
    __audit_entity__: ClassVar[str | None] = "tenant"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    # Requests a second per API key of this tenant, and the burst above it (token bucket);
    # NULL: the deployment's RATE_LIMIT_PER_S / RATE_LIMIT_BURST.
    rate_limit_per_s: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    rate_limit_burst: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("uq_tenants_lower_name", func.lower(text("name")), unique=True),
        Index("ix_tenants_created_at_id", "created_at", "id"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        CheckConstraint("rate_limit_per_s > 0", name="rate_limit_per_s_positive"),
        CheckConstraint("rate_limit_burst >= 1", name="rate_limit_burst_positive"),
    )


class ApiKey(TimestampMixin, AuditMixin, Base):
    """A tenant's key: only the SHA-256 of the 256-bit secret is stored."""

    __tablename__ = "api_keys"
    __audit_entity__: ClassVar[str | None] = "api_key"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Not TenantMixin: keys are found before the tenant is known, and audited without one.
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),)
