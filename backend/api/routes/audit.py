"""The tenant's own audit trail (and the listing the admin view shares)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import PageDep, ReplicaUnitOfWorkDep, TenantDep
from backend.api.docs import responses
from backend.api.responses import PRIVATE, page_response
from backend.api.routing import ApiRoute
from backend.api.schemas.audit import Action, AuditRead, EntityType
from backend.api.schemas.common import PageOf, QueryText
from backend.services import listing

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=ApiRoute)


@router.get("", response_model=PageOf[AuditRead], responses=responses(403, 422))
def list_audit(
    uow: ReplicaUnitOfWorkDep,
    page: PageDep,
    principal: TenantDep,
    entity_type: Annotated[EntityType | None, Query()] = None,
    entity_id: Annotated[QueryText | None, Query(max_length=64)] = None,
    action: Annotated[Action | None, Query()] = None,
) -> Response:
    """Your tenant's audit entries, ordered by time then id."""
    result = listing.audit(
        uow, page, principal, entity_type=entity_type, entity_id=entity_id, action=action
    )
    return page_response(AuditRead, result, headers=PRIVATE)
