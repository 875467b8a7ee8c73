from __future__ import annotations

from pydantic import StrictBool

from backend.api.schemas.common import InputModel, Name, OutputModel, PatchModel, UtcDatetime


class BookmakerCreate(InputModel):
    name: Name
    is_sharp: StrictBool = False


class BookmakerUpdate(PatchModel):
    non_nullable = frozenset({"name", "is_sharp"})

    name: Name | None = None
    is_sharp: StrictBool | None = None


class BookmakerRead(OutputModel):
    id: int
    name: str
    is_sharp: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int
