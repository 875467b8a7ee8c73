"""Tenants and their API keys: 256-bit secrets shown once, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from backend.core.errors import NotFound
from backend.core.versioning import ExpectedVersion
from backend.models.tenancy import ApiKey, Tenant
from backend.repositories.tenancy import ApiKeyRepository, TenantRecordRepository
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case

KEY_PREFIX = "odk_"


def tenants(uow: UnitOfWork) -> TenantRecordRepository:
    return uow.tenants


def api_keys(uow: UnitOfWork) -> ApiKeyRepository:
    return uow.api_keys


def hash_key(secret: str) -> str:
    """Keys are 256 random bits, so a fast hash is enough: nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _issue(uow: UnitOfWork, tenant_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = uow.api_keys.add(ApiKey(tenant_id=tenant_id, name=name, key_hash=hash_key(secret)))
    return key, secret


@use_case
def create_tenant(uow: UnitOfWork, name: str) -> tuple[Tenant, ApiKey, str]:
    """A tenant and its `default` key, in one transaction."""
    tenant = uow.tenants.add(Tenant(name=name))
    key, secret = _issue(uow, tenant.id, "default")
    uow.commit()
    return tenant, key, secret


@use_case
def create_api_key(uow: UnitOfWork, tenant_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
    uow.tenants.get_one(tenant_id)
    key, secret = _issue(uow, tenant_id, name)
    uow.commit()
    return key, secret


@use_case
def revoke_api_key(uow: UnitOfWork, key_id: uuid.UUID) -> ApiKey:
    """From now on the key answers 401; audited as the `delete` of the key."""
    key = uow.api_keys.active(key_id)
    if key is None:
        raise NotFound("api key", key_id)
    uow.mark(key, "delete")
    uow.api_keys.update(key, {"revoked_at": datetime.now(UTC)})
    _forget_after_commit(uow, key_id=key.id)
    uow.commit()
    return key


@use_case
def update_tenant(
    uow: UnitOfWork, tenant_id: uuid.UUID, changes: dict[str, Any], expected: ExpectedVersion
) -> Tenant:
    """Rename or (de)activate; cached key lookups of the tenant are dropped after commit."""
    tenant = uow.tenants.get_one(tenant_id)
    expected.check(tenant.version)
    uow.tenants.update(tenant, changes)
    _forget_after_commit(uow, tenant_id=tenant.id)
    uow.commit()
    return tenant


@use_case
def set_rate_limit(
    uow: UnitOfWork, tenant_id: uuid.UUID, per_s: Decimal | None, burst: int | None
) -> Tenant:
    """The tenant's own rate limit (None: the deployment's value); its keys get it on their
    next request, on every worker (cached lookups are dropped at the commit)."""
    tenant = uow.tenants.get_one(tenant_id)
    changes = {"rate_limit_per_s": per_s, "rate_limit_burst": burst}
    if any(getattr(tenant, k) != v for k, v in changes.items()):
        uow.tenants.update(tenant, changes)
        _forget_after_commit(uow, tenant_id=tenant.id)
        uow.commit()
    return tenant


def _forget_after_commit(
    uow: UnitOfWork, key_id: uuid.UUID | None = None, tenant_id: uuid.UUID | None = None
) -> None:
    caches = uow.caches
    if caches is not None:
        uow.on_commit(lambda: caches.invalidate_principals(key_id=key_id, tenant_id=tenant_id))
