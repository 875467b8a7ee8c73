"""Admin: tenants, their API keys, and the audit trail of reference data, tenants and keys."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from backend.api.deps import AdminDep, IfMatchDep, PageDep, ReadUnitOfWorkDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.responses import PRIVATE, json_response, page_response, resource_response
from backend.api.routing import ApiRoute
from backend.api.schemas.audit import Action, AuditRead, EntityType
from backend.api.schemas.common import PageOf, QueryText
from backend.api.schemas.tenants import (
    ApiKeyCreate,
    ApiKeyCreated,
    RateLimitBody,
    RateLimitRead,
    RateLimitValues,
    TenantCreate,
    TenantCreated,
    TenantRead,
    TenantUpdate,
)
from backend.core.ratelimit import RateLimit
from backend.services import crud, listing, tenancy

router = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=ApiRoute)


@router.post(
    "/tenants", status_code=201, response_model=TenantCreated, responses=responses(403, 409, 422)
)
def create_tenant(body: TenantCreate, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Create a tenant with its `default` API key (the key is shown in this answer only)."""
    tenant, key, secret = tenancy.create_tenant(uow, body.name)
    created = TenantCreated(
        id=tenant.id,
        name=tenant.name,
        is_active=tenant.is_active,
        created_at=tenant.created_at,
        api_key=ApiKeyCreated(id=key.id, name=key.name, key=secret),
    )
    return resource_response(
        created,
        version=tenant.version,
        status=201,
        location=f"/v1/admin/tenants/{tenant.id}",
        headers=PRIVATE,
    )


@router.get("/tenants", response_model=PageOf[TenantRead], responses=responses(403, 422))
def list_tenants(uow: ReadUnitOfWorkDep, page: PageDep, _: AdminDep) -> Response:
    """List tenants, ordered by creation time then id."""
    result = listing.tenants(uow, page)
    return page_response(TenantRead, result, headers=PRIVATE)


@router.get("/tenants/{tenant_id}", response_model=TenantRead, responses=responses(403, 404))
def get_tenant(tenant_id: uuid.UUID, uow: ReadUnitOfWorkDep, _: AdminDep) -> Response:
    """Get one tenant (never any key secret)."""
    tenant = crud.get(uow, tenancy.tenants, tenant_id)
    return resource_response(
        TenantRead.model_validate(tenant), version=tenant.version, headers=PRIVATE
    )


@router.patch(
    "/tenants/{tenant_id}",
    response_model=TenantRead,
    responses=responses(403, 404, 409, 412, 422, 428),
)
def update_tenant(
    tenant_id: uuid.UUID,
    body: TenantUpdate,
    uow: UnitOfWorkDep,
    expected: IfMatchDep,
    _: AdminDep,
) -> Response:
    """Rename or (de)activate a tenant; an inactive tenant's keys get 403."""
    tenant = tenancy.update_tenant(uow, tenant_id, body.model_dump(exclude_unset=True), expected)
    return resource_response(
        TenantRead.model_validate(tenant), version=tenant.version, headers=PRIVATE
    )


def _rate_limit(request: Request, tenant: Any) -> Response:
    settings = request.app.state.settings
    effective = RateLimit.effective(
        tenant.rate_limit_per_s,
        tenant.rate_limit_burst,
        settings.rate_limit_per_s,
        settings.rate_limit_burst,
    )
    body = RateLimitRead(
        per_s=tenant.rate_limit_per_s,
        burst=tenant.rate_limit_burst,
        effective=RateLimitValues(per_s=Decimal(str(effective.per_s)), burst=effective.burst)
        if effective
        else None,
    )
    return json_response(body, headers=PRIVATE)


@router.get(
    "/tenants/{tenant_id}/rate-limit", response_model=RateLimitRead, responses=responses(403, 404)
)
def get_rate_limit(
    tenant_id: uuid.UUID, request: Request, uow: ReadUnitOfWorkDep, _: AdminDep
) -> Response:
    """The tenant's own rate limit, and the one its keys get (with the deployment's values)."""
    return _rate_limit(request, crud.get(uow, tenancy.tenants, tenant_id))


@router.put(
    "/tenants/{tenant_id}/rate-limit",
    response_model=RateLimitRead,
    responses=responses(403, 404, 422),
)
def put_rate_limit(
    tenant_id: uuid.UUID, body: RateLimitBody, request: Request, uow: UnitOfWorkDep, _: AdminDep
) -> Response:
    """Set the tenant's own rate limit (a value left out or null: the deployment's)."""
    tenant = tenancy.set_rate_limit(uow, tenant_id, body.per_s, body.burst)
    return _rate_limit(request, tenant)


@router.post(
    "/tenants/{tenant_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=responses(403, 404, 422),
)
def create_api_key(
    tenant_id: uuid.UUID, body: ApiKeyCreate, uow: UnitOfWorkDep, _: AdminDep
) -> Response:
    """Issue another API key for a tenant (shown in this answer only)."""
    key, secret = tenancy.create_api_key(uow, tenant_id, body.name)
    return json_response(
        ApiKeyCreated(id=key.id, name=key.name, key=secret),
        status=201,
        headers={**PRIVATE, "Location": f"/v1/admin/api-keys/{key.id}"},
    )


@router.delete("/api-keys/{key_id}", status_code=204, responses=responses(403, 404, 422))
def revoke_api_key(key_id: uuid.UUID, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Revoke a key: it answers 401 from now on."""
    tenancy.revoke_api_key(uow, key_id)
    return Response(status_code=204)


@router.get("/audit", response_model=PageOf[AuditRead], responses=responses(403, 422))
def admin_audit(
    uow: ReadUnitOfWorkDep,
    page: PageDep,
    principal: AdminDep,
    entity_type: Annotated[EntityType | None, Query()] = None,
    entity_id: Annotated[QueryText | None, Query(max_length=64)] = None,
    action: Annotated[Action | None, Query()] = None,
) -> Response:
    """Audit entries of reference data, tenants and keys, ordered by time then id."""
    result = listing.audit(
        uow, page, principal, entity_type=entity_type, entity_id=entity_id, action=action
    )
    return page_response(AuditRead, result, headers=PRIVATE)


@router.get("/cache", responses=responses(403))
def cache_stats(request: Request, _: AdminDep) -> Response:
    """Query-cache statistics of this worker: hits, misses, evictions, invalidations."""
    return json_response(request.app.state.caches.describe(), headers=PRIVATE)
