from __future__ import annotations

from pydantic import ConfigDict

from backend.api.schemas.common import (
    InputModel,
    Name,
    OutputModel,
    PatchModel,
    ShortText,
    UtcDatetime,
)


class TeamCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Arsenal", "country": "England", "league": "Premier League"}]
        },
    )

    name: Name
    country: ShortText | None = None
    league: ShortText | None = None


class TeamUpdate(PatchModel):
    non_nullable = frozenset({"name"})

    name: Name | None = None
    country: ShortText | None = None
    league: ShortText | None = None


class TeamRead(OutputModel):
    id: int
    name: str
    country: str | None
    league: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    created_by: str | None
    updated_by: str | None
    version: int


class TeamRef(OutputModel):
    id: int
    name: str
