"""Webhook endpoints, their deliveries and attempts."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from backend.api.schemas.common import (
    InputModel,
    NulFree,
    OutputModel,
    PatchModel,
    SchemaExtra,
    Storable,
    UtcDatetime,
)
from backend.models.events import EVENT_TYPES, EventType

EndpointStatus = Literal["active", "disabled"]
DeliveryStatus = Literal["pending", "succeeded", "failed", "dead"]


# An absolute http(s) URL as RFC 3986 writes one: a host name (no credentials, no IP-literal),
# an optional port 1-65535, a path, a query and a fragment, each of the characters RFC 3986
# allows there (others percent-encoded). The JSON Schema states exactly this pattern.
_PCT = "%[0-9A-Fa-f]{2}"
_SUB = "A-Za-z0-9\\-._~!$&'()*+,;="
_HOST = f"(?:[{_SUB}]|{_PCT})+"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_PCHAR = f"(?:[{_SUB}:@]|{_PCT})"
_TAIL = f"(?:[{_SUB}:@/?]|{_PCT})*"
URL_PATTERN = f"^https?://{_HOST}(?::{_PORT})?(?:/{_PCHAR}*)*(?:[?]{_TAIL})?(?:#{_TAIL})?$"

WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000, pattern=URL_PATTERN),
    Storable,
    SchemaExtra(format="uri"),
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
