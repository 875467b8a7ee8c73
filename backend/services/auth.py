"""Resolving a presented API key to its principal.

Lookups are cached per process (hash -> principal, short TTL), and the cache never serves a
revoked key: every unit of work re-checks the key in its first statement (the one that sets
the row-level-security context), so revocation and deactivation take effect on every worker
at once, without an extra round trip. A request answered from the cache alone (no statement)
skips that check only while the worker's invalidation listener is current, and a revocation
or deactivation is announced by PostgreSQL at its commit and drops the cached key then.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, select

from backend.core.cache import Caches
from backend.core.errors import TenantInactive
from backend.core.pool import with_fresh_connection_retry
from backend.core.principal import Principal
from backend.core.ratelimit import RateLimit
from backend.models.tenancy import ApiKey, Tenant
from backend.services.tenancy import KEY_PREFIX, hash_key

_MAX_KEY_LENGTH = 128


class DatabaseKeyResolver:
    """Looks the key's hash up in `api_keys` (one indexed read) on a cache miss."""

    def __init__(
        self, engine: Engine, caches: Caches, rate_per_s: float = 0, rate_burst: int = 0
    ) -> None:
        self.engine = engine
        self.caches = caches
        # The deployment's rate limit (0: none), for tenants without values of their own.
        self.rate_per_s, self.rate_burst = rate_per_s, rate_burst

    def cached(self, secret: str) -> Principal | None:
        """The principal if this process saw the key recently (no I/O)."""
        found: Principal | None = self.caches.api_keys.get(hash_key(secret))
        return found

    def resolve(self, secret: str) -> Principal | None:
        if not secret.startswith(KEY_PREFIX) or len(secret) > _MAX_KEY_LENGTH:
            return None
        digest = hash_key(secret)
        unknown = self.caches.unknown_keys
        if unknown.ttl_s > 0 and unknown.get(digest):
            return None
        stmt = (
            select(
                ApiKey.id,
                ApiKey.name,
                ApiKey.tenant_id,
                Tenant.is_active,
                Tenant.rate_limit_per_s,
                Tenant.rate_limit_burst,
            )
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
        )

        def lookup() -> Any:
            with self.engine.connect() as conn:
                return conn.execute(stmt).one_or_none()

        row = with_fresh_connection_retry(lookup)
        if row is None:
            if unknown.ttl_s > 0:
                unknown.put(digest, True)
            return None
        if not row.is_active:
            raise TenantInactive
        limit = RateLimit.effective(
            row.rate_limit_per_s, row.rate_limit_burst, self.rate_per_s, self.rate_burst
        )
        principal = Principal(
            kind="tenant",
            actor=row.name,
            tenant_id=row.tenant_id,
            key_id=row.id,
            rate_limit=limit,
        )
        self.caches.api_keys.put(digest, principal)
        return principal

    def forget(self, key_id: uuid.UUID | None = None, tenant_id: uuid.UUID | None = None) -> None:
        """Drop cached lookups of a key or of a whole tenant (on every worker with Redis)."""
        self.caches.invalidate_principals(key_id=key_id, tenant_id=tenant_id)
