"""The tenant's own audit trail (and the listing the admin view shares)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import ColumnElement

from backend.api.deps import PageDep, PageParams, TenantDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.responses import PRIVATE, page_response
from backend.api.routing import ApiRoute
from backend.api.schemas.audit import Action, AuditRead, EntityType
from backend.api.schemas.common import PageOf, QueryText
from backend.models.audit import AuditLog
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import crud

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=ApiRoute)


def audit_page(
    uow: UnitOfWork,
    page: PageParams,
    scope: ColumnElement[bool],
    entity_type: str | None,
    entity_id: str | None,
    action: str | None,
) -> Response:
    """One page of audit entries within `scope`, filtered, ordered by time then id."""
    filters = [scope]
    if entity_type is not None:
        filters.append(AuditLog.entity_type == entity_type)
    if entity_id is not None:
        filters.append(AuditLog.entity_id == entity_id)
    if action is not None:
        filters.append(AuditLog.action == action)
    result = uow.run(
        crud.list_page,
        lambda u: u.audit_log,
        filters=filters,
        order_by=[AuditLog.occurred_at],
        cursor=page.cursor,
        limit=page.limit,
        include_total=page.include_total,
    )
    return page_response(AuditRead, result, headers=PRIVATE)


@router.get("", response_model=PageOf[AuditRead], responses=responses(403, 422))
def list_audit(
    uow: UnitOfWorkDep,
    page: PageDep,
    principal: TenantDep,
    entity_type: Annotated[EntityType | None, Query()] = None,
    entity_id: Annotated[QueryText | None, Query(max_length=64)] = None,
    action: Annotated[Action | None, Query()] = None,
) -> Response:
    """Your tenant's audit entries, ordered by time then id."""
    scope = AuditLog.tenant_id == principal.tenant_id
    return audit_page(uow, page, scope, entity_type, entity_id, action)
