"""Declarative base with a constraint naming convention, and the mixins every table composes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, String, Uuid, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from backend.core.history import is_history_child

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every schema the models live in (Alembic and the schema checks compare exactly these).
MANAGED_SCHEMAS = frozenset({"public", "analytics"})


def include_managed_schemas(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic `include_name` hook: compare our schemas only, and the partitioned history
    tables themselves, not their partitions (made at run time, core/history.py) nor the ones
    retention detached and kept."""
    if type_ == "table":
        return not is_history_child(name)
    return type_ != "schema" or name is None or name in MANAGED_SCHEMAS


# Columns that describe a change rather than the entity; never part of an audit diff.
AUDIT_IGNORED_FIELDS = frozenset(
    {"created_at", "updated_at", "created_by", "updated_by", "change_reason", "version"}
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    # The audit log's entity_type for this model; None means "not audited".
    __audit_entity__: ClassVar[str | None] = None
    # Columns never written to the audit log (secrets).
    __audit_excluded__: ClassVar[frozenset[str]] = frozenset()


class TimestampMixin:
    """UTC, timezone-aware; `updated_at` moves only when an UPDATE actually changes a column."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.now(),
        # statement time, not transaction start: a second change in one transaction still moves it
        onupdate=func.statement_timestamp(),
        nullable=False,
    )


class AuditMixin:
    """Who created and last changed the row, and why (filled by the Unit of Work)."""

    created_by: Mapped[str | None] = mapped_column(String(100))
    updated_by: Mapped[str | None] = mapped_column(String(100))
    change_reason: Mapped[str | None] = mapped_column(String(500))


class TenantMixin:
    """Rows owned by one tenant; tenant repositories add the filter to every statement."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            # Not indexed alone: every tenant table has composite indexes led by tenant_id.
            Uuid,
            ForeignKey("tenants.id", ondelete="RESTRICT"),
            nullable=False,
        )


class VersionMixin:
    """Optimistic concurrency: `version` is SQLAlchemy's version_id_col, +1 on every UPDATE."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - declared_attr takes the class
        return {"version_id_col": cls.version, "eager_defaults": True}
