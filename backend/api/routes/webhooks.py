"""Webhooks: a tenant's endpoints, the deliveries of its events to them, and redelivery."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from backend.api.deps import (
    IfMatchDep,
    OptionalIfMatchDep,
    PageDep,
    ReadUnitOfWorkDep,
    SettingsDep,
    TenantDep,
    UnitOfWorkDep,
)
from backend.api.docs import responses
from backend.api.responses import PRIVATE, json_response, page_response, resource_response
from backend.api.routing import ApiRoute
from backend.api.schemas.common import PageOf
from backend.api.schemas.webhooks import (
    DeliveryDetail,
    DeliveryRead,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)
from backend.services import crud
from backend.services import webhooks as service

router = APIRouter(tags=["webhooks"], route_class=ApiRoute)

DeliveryId = Annotated[
    str, Path(pattern=r"^msg_[0-9a-f]{32}$", description="The delivery's `webhook-id`")
]


def _one(endpoint: Any, schema: type[WebhookRead] = WebhookRead, status: int = 200) -> Response:
    location = f"/v1/webhooks/{endpoint.id}" if status == 201 else None
    return resource_response(
        schema.model_validate(endpoint),
        version=endpoint.version,
        status=status,
        location=location,
        headers=PRIVATE,
    )


@router.post(
    "/v1/webhooks", status_code=201, response_model=WebhookCreated, responses=responses(403, 422)
)
def create_webhook(body: WebhookCreate, uow: UnitOfWorkDep, _: TenantDep) -> Response:
    """Register an endpoint; the answer holds its signing `secret`, shown only this once."""
    return _one(service.create(uow, **body.model_dump()), WebhookCreated, 201)


@router.get("/v1/webhooks", response_model=PageOf[WebhookRead], responses=responses(403, 422))
def list_webhooks(uow: ReadUnitOfWorkDep, page: PageDep, _: TenantDep) -> Response:
    """Your endpoints, ordered by creation time then id (no secrets)."""
    return page_response(WebhookRead, service.list_endpoints(uow, page), headers=PRIVATE)


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookRead, responses=responses(403, 404))
def get_webhook(webhook_id: uuid.UUID, uow: ReadUnitOfWorkDep, _: TenantDep) -> Response:
    """One of your endpoints (no secret)."""
    row = crud.read(uow, service.endpoints, webhook_id)
    return resource_response(
        WebhookRead.model_validate(row), version=row["version"], headers=PRIVATE
    )


@router.patch(
    "/v1/webhooks/{webhook_id}",
    response_model=WebhookRead,
    responses=responses(403, 404, 412, 422, 428),
)
def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    uow: UnitOfWorkDep,
    expected: IfMatchDep,
    _: TenantDep,
) -> Response:
    """Change url, event_types, description or status (`active` again resets the failure
    count); needs `If-Match`."""
    changes = body.model_dump(exclude_unset=True)
    return _one(service.update(uow, webhook_id, changes, expected))


@router.delete("/v1/webhooks/{webhook_id}", status_code=204, responses=responses(403, 404, 412))
def delete_webhook(
    webhook_id: uuid.UUID, uow: UnitOfWorkDep, expected: OptionalIfMatchDep, _: TenantDep
) -> Response:
    """Delete an endpoint with its deliveries and their attempts."""
    service.delete(uow, webhook_id, expected)
    return Response(status_code=204)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries",
    response_model=PageOf[DeliveryRead],
    responses=responses(403, 404, 422),
)
def list_deliveries(
    webhook_id: uuid.UUID,
    uow: ReadUnitOfWorkDep,
    page: PageDep,
    _: TenantDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Response:
    """The endpoint's deliveries, ordered by creation time then id."""
    result = service.deliveries(uow, webhook_id, page, status=status)
    return page_response(DeliveryRead, result, headers=PRIVATE)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses=responses(403, 404, 422),
)
def get_delivery(
    webhook_id: uuid.UUID, delivery_id: DeliveryId, uow: ReadUnitOfWorkDep, _: TenantDep
) -> Response:
    """One delivery with every attempt, oldest first."""
    row = service.delivery(uow, webhook_id, delivery_id)
    return json_response(DeliveryDetail.model_validate(row), headers=PRIVATE)


@router.post(
    "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryRead,
    responses=responses(403, 404, 422),
)
def redeliver(
    webhook_id: uuid.UUID,
    delivery_id: DeliveryId,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    _: TenantDep,
) -> Response:
    """Send it again (even when dead), with the same `webhook-id`: pending and queued now."""
    row = service.redeliver(uow, webhook_id, delivery_id, settings.webhook_max_attempts)
    return json_response(DeliveryRead.model_validate(row), status=202, headers=PRIVATE)
