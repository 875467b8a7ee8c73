from __future__ import annotations

import uuid

from pydantic import StrictBool

from backend.api.schemas.common import InputModel, Name, OutputModel, PatchModel, UtcDatetime


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
