from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StrictBool

from backend.api.schemas.common import InputModel, Name, OutputModel, PatchModel, UtcDatetime
from backend.api.schemas.money import RATE_PATTERN, PriceOut, decimal_input, input_schema

RATE_MAX = Decimal("9999999.999")

RatePerSecond = Annotated[
    Decimal,
    decimal_input(3, gt=Decimal(0), le=RATE_MAX),
    input_schema(3, RATE_PATTERN, minimum=Decimal(0), exclusive=True, le=RATE_MAX),
    Field(description="requests a second per API key (3 places); null: the deployment's"),
]
Burst = Annotated[
    int,
    Field(strict=True, ge=1, le=10_000_000, description="burst above the rate; null: default"),
]


class TenantCreate(InputModel):
    name: Name


class TenantUpdate(PatchModel):
    non_nullable = frozenset({"name", "is_active"})

    name: Name | None = None
    is_active: StrictBool | None = None


class ApiKeyCreate(InputModel):
    name: Name


class ApiKeyCreated(OutputModel):
    """The secret is in this answer only: the server keeps its SHA-256."""

    id: uuid.UUID
    name: str
    key: str


class TenantRead(OutputModel):
    id: uuid.UUID
    name: str
    is_active: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int


class TenantCreated(OutputModel):
    id: uuid.UUID
    name: str
    is_active: bool
    created_at: UtcDatetime
    api_key: ApiKeyCreated


class RateLimitBody(InputModel):
    """The tenant's own rate limit; a value left out or null is the deployment's."""

    per_s: RatePerSecond | None = None
    burst: Burst | None = None


class RateLimitValues(OutputModel):
    per_s: PriceOut
    burst: int


class RateLimitRead(OutputModel):
    per_s: PriceOut | None
    burst: int | None
    effective: RateLimitValues | None = None  # what the tenant's keys get; null: unlimited
