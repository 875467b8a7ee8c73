"""Reading the audit log: a tenant's own entries, and (admin) those that carry no tenant.

Each repository is scoped like every other: the tenant's adds the tenant to every statement
(row-level security backs it up), the admin's keeps to the entries of reference data, tenants
and keys. No service filters audit rows by tenant itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Select

from backend.models.audit import AuditLog
from backend.repositories.base import Repository
from backend.repositories.pages import View
from backend.repositories.tenant import TenantRepository

# An entry as the API lists it (both views).
AUDIT_VIEW = View.of(
    AuditLog,
    (
        "id",
        "occurred_at",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "changes",
        "change_reason",
        "request_id",
    ),
)


class AuditRepository(Repository[AuditLog]):
    """The entries that carry no tenant: reference data, tenants and API keys (the admin's
    view; every tenant-owned row is audited under its tenant)."""

    model_type: ClassVar[type[Any]] = AuditLog
    row_key = "id"  # the primary key also holds the partition key
    entity_name = "audit entry"
    list_view = AUDIT_VIEW

    @property
    def untenanted(self) -> ColumnElement[bool]:
        return AuditLog.tenant_id.is_(None)

    def scoped(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(self.untenanted)

    def scoped_by_param(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(self.untenanted)  # no value to bind


class TenantAuditRepository(TenantRepository[AuditLog]):
    """One tenant's entries: its strategies, bets and their settlement."""

    model_type: ClassVar[type[Any]] = AuditLog
    row_key = "id"  # the primary key also holds the partition key
    entity_name = "audit entry"
    list_view = AUDIT_VIEW
