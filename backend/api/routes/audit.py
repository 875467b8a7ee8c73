"""The tenant's own audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from backend.api.deps import PageDep, TenantDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.responses import PRIVATE, page_response
from backend.api.routing import ApiRoute
from backend.api.schemas.audit import Action, AuditRead, EntityType
from backend.api.schemas.common import PageOf
from backend.models.audit import AuditLog
from backend.services import crud

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=ApiRoute)


def audit_filters(entity_type: str | None, entity_id: str | None, action: str | None) -> list[Any]:
    filters = []
    if entity_type is not None:
        filters.append(AuditLog.entity_type == entity_type)
    if entity_id is not None:
        filters.append(AuditLog.entity_id == entity_id)
    if action is not None:
        filters.append(AuditLog.action == action)
    return filters


@router.get("", response_model=PageOf[AuditRead], responses=responses(403, 422))
def list_audit(
    uow: UnitOfWorkDep,
    page: PageDep,
    principal: TenantDep,
    entity_type: Annotated[EntityType | None, Query()] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[Action | None, Query()] = None,
) -> Response:
    """Your tenant's audit entries, ordered by time then id."""
    filters = [
        AuditLog.tenant_id == principal.tenant_id,
        *audit_filters(entity_type, entity_id, action),
    ]
    result = uow.run(
        crud.list_page,
        lambda u: u.audit_log,
        filters=filters,
        order_by=[AuditLog.occurred_at],
        cursor=page.cursor,
        limit=page.limit,
        include_total=page.include_total,
    )
    return page_response(
        [AuditRead.model_validate(a) for a in result.items], result, headers=PRIVATE
    )
