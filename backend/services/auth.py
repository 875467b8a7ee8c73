"""Resolving a presented API key to its principal."""

from __future__ import annotations

from sqlalchemy import Engine, select

from backend.core.errors import TenantInactive
from backend.core.principal import Principal
from backend.models.tenancy import ApiKey, Tenant
from backend.services.tenancy import KEY_PREFIX, hash_key

_MAX_KEY_LENGTH = 128


class DatabaseKeyResolver:
    """Looks the key's hash up in `api_keys` (one indexed read)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def resolve(self, secret: str) -> Principal | None:
        if not secret.startswith(KEY_PREFIX) or len(secret) > _MAX_KEY_LENGTH:
            return None
        stmt = (
            select(ApiKey.id, ApiKey.name, ApiKey.tenant_id, Tenant.is_active)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None))
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one_or_none()
        if row is None:
            return None
        if not row.is_active:
            raise TenantInactive
        return Principal(kind="tenant", actor=row.name, tenant_id=row.tenant_id, key_id=row.id)
