"""Webhook endpoints, their deliveries and attempts."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from backend.api.schemas.common import (
    InputModel,
    NulFree,
    OutputModel,
    PatchModel,
    Storable,
    UtcDatetime,
)
from backend.models.events import EVENT_TYPES

EventType = Literal[
    "bet.placed",
    "bet.settled",
    "bet.voided",
    "strategy.created",
    "strategy.updated",
    "strategy.killed",
    "strategy.resumed",
    "match.result",
    "match.cancelled",
    "odds.ingested",
]
assert set(get_args(EventType)) == set(EVENT_TYPES)  # one list of event types
EndpointStatus = Literal["active", "disabled"]
DeliveryStatus = Literal["pending", "succeeded", "failed", "dead"]


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise ValueError("must be an absolute http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError("must be an absolute http(s) URL")
    if any(c.isspace() for c in value):
        raise ValueError("must be an absolute http(s) URL (no spaces)")
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    Storable,
    NulFree,
    AfterValidator(_http_url),
]
EventTypes = Annotated[
    list[EventType],
    Field(max_length=len(EVENT_TYPES), description="Empty: every event type"),
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), Storable, NulFree
]


def _distinct(types: list[str]) -> list[str]:
    return sorted(set(types))


class WebhookCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://hooks.example.com/oddsdesk", "event_types": ["bet.settled"]}
            ]
        },
    )

    url: WebhookUrl
    event_types: Annotated[EventTypes, AfterValidator(_distinct)] = []
    description: Description | None = None


class WebhookUpdate(PatchModel):
    """`status`: `disabled` stops deliveries; `active` again resets the failure count."""

    non_nullable = frozenset({"url", "event_types", "status"})

    url: WebhookUrl | None = None
    event_types: Annotated[EventTypes, AfterValidator(_distinct)] | None = None
    description: Description | None = None
    status: EndpointStatus | None = None


class WebhookRead(OutputModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    status: EndpointStatus
    consecutive_failures: int
    disabled_reason: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="The signing secret (Standard Webhooks `whsec_...`), shown only here"
    )


class DeliveryRead(OutputModel):
    id: str = Field(description="The `webhook-id` header of every attempt")
    endpoint_id: uuid.UUID
    event_id: int
    event_type: str
    status: DeliveryStatus
    attempt_count: int = Field(description="Attempts made so far")
    next_attempt_at: UtcDatetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None


class AttemptRead(OutputModel):
    attempted_at: UtcDatetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryDetail(DeliveryRead):
    attempts: list[AttemptRead] = Field(description="Every attempt, oldest first")
