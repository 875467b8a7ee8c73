"""Webhook endpoints of a tenant: create (with its signing secret, shown once), read, list,
change, delete; its deliveries and their attempts; redelivery."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from backend.core.errors import NotFound
from backend.core.versioning import ExpectedVersion
from backend.models.webhooks import WebhookDelivery, WebhookEndpoint
from backend.repositories.event_fanout import DELIVER
from backend.repositories.pages import Page, Where
from backend.repositories.unit_of_work import UnitOfWork
from backend.repositories.webhooks import WebhookEndpointRepository
from backend.services.listing import PageRequest
from backend.services.use_case import use_case

SECRET_BYTES = 24
API_DISABLED = "disabled through the API"


def endpoints(uow: UnitOfWork) -> WebhookEndpointRepository:
    return uow.webhook_endpoints


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 192 random bits."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@use_case
def create(
    uow: UnitOfWork, *, url: str, event_types: list[str], description: str | None
) -> WebhookEndpoint:
    endpoint = uow.webhook_endpoints.add(
        WebhookEndpoint(
            url=url, event_types=event_types, description=description, secret=new_secret()
        )
    )
    uow.commit()
    return endpoint


@use_case
def update(
    uow: UnitOfWork,
    endpoint_id: uuid.UUID,
    changes: Mapping[str, Any],
    expected: ExpectedVersion,
) -> WebhookEndpoint:
    """404 first, then If-Match. Disabling records why; enabling again forgets the failures."""
    endpoint = uow.webhook_endpoints.get_one(endpoint_id)
    expected.check(endpoint.version)
    values = dict(changes)
    status = values.get("status")
    if status is not None and status != endpoint.status:
        if status == "active":
            values.update(consecutive_failures=0, disabled_reason=None)
        else:
            values["disabled_reason"] = API_DISABLED
    uow.webhook_endpoints.update(endpoint, values)
    uow.commit()
    return endpoint


@use_case
def delete(uow: UnitOfWork, endpoint_id: uuid.UUID, expected: ExpectedVersion) -> None:
    """The endpoint and, with it, its deliveries and their attempts; jobs still queued for
    them find nothing to send and end."""
    endpoint = uow.webhook_endpoints.get_one(endpoint_id)
    expected.check(endpoint.version)
    uow.webhook_endpoints.delete(endpoint)
    uow.commit()


@use_case
def list_endpoints(uow: UnitOfWork, page: PageRequest) -> Page[Any]:
    """The tenant's endpoints by creation time then id."""
    return uow.webhook_endpoints.list(
        order_by=[WebhookEndpoint.created_at],
        cursor=page.cursor,
        limit=page.limit,
        include_total=page.include_total,
    )


@use_case
def deliveries(
    uow: UnitOfWork, endpoint_id: uuid.UUID, page: PageRequest, *, status: str | None = None
) -> Page[Any]:
    """An endpoint's deliveries by creation time then id (404: no such endpoint)."""
    where = [Where(WebhookDelivery.endpoint_id, endpoint_id)]
    if status is not None:
        where.append(Where(WebhookDelivery.status, status))
    result = uow.webhook_deliveries.list(
        where=where,
        order_by=[WebhookDelivery.created_at],
        cursor=page.cursor,
        limit=page.limit,
        include_total=page.include_total,
    )
    if not result.items and page.cursor is None:
        uow.webhook_endpoints.get_one(endpoint_id)
    return result


@use_case
def delivery(uow: UnitOfWork, endpoint_id: uuid.UUID, delivery_id: str) -> dict[str, Any]:
    """One delivery with every attempt, oldest first."""
    row = uow.webhook_deliveries.one(endpoint_id, delivery_id)
    if row is None:
        raise NotFound("webhook delivery", delivery_id)
    row["attempts"] = uow.webhook_deliveries.attempts(delivery_id)
    return row


@use_case
def redeliver(
    uow: UnitOfWork, endpoint_id: uuid.UUID, delivery_id: str, max_attempts: int
) -> dict[str, Any]:
    """Pending again and queued at once (dead ones too), with the same `webhook-id` and a
    fresh budget of attempts."""
    if not uow.webhook_deliveries.reset(endpoint_id, delivery_id):
        raise NotFound("webhook delivery", delivery_id)
    uow.jobs.enqueue_now(
        DELIVER,
        {"delivery_id": delivery_id},
        unique_key=f"{DELIVER}:{delivery_id}",
        max_attempts=max_attempts,
    )
    uow.commit()
    found = uow.webhook_deliveries.one(endpoint_id, delivery_id)
    assert found is not None
    return found
