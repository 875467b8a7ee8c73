"""Tenants and API keys (admin-managed; not tenant-scoped: keys are looked up before the
tenant is known)."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from sqlalchemy import select

from backend.models.tenancy import ApiKey, Tenant
from backend.repositories.base import Repository
from backend.repositories.pages import View


class TenantRecordRepository(Repository[Tenant]):
    model_type: ClassVar[type[Any]] = Tenant
    entity_name = "tenant"
    list_view = View.of(
        Tenant,
        ("id", "name", "is_active", "created_at", "updated_at", "version"),
    )
    constraint_messages = {"uq_tenants_lower_name": "a tenant with this name already exists"}


class ApiKeyRepository(Repository[ApiKey]):
    model_type: ClassVar[type[Any]] = ApiKey
    entity_name = "api key"

    def active(self, key_id: uuid.UUID) -> ApiKey | None:
        """A key that has not been revoked."""
        if not isinstance(key_id, uuid.UUID):
            return None
        stmt = select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        return self.session.scalars(stmt).one_or_none()
