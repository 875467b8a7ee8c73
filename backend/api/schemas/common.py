"""Field types shared by the request and response schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAX_ID = 2**31 - 1


def _rfc3339_only(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 timestamp string with an offset")
    return value


def _to_utc(value: datetime) -> datetime:
    """Stored and compared in UTC: any valid offset works, even ones PostgreSQL cannot hold."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("timestamp out of range") from None


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


# Every timestamp the API sends is UTC with a `Z`, whatever offset it arrived with: converted
# on the way into the response schema, then written by pydantic-core (UTC is "Z" there).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def _storable(value: str) -> str:
    """PostgreSQL text holds no NUL character, and UTF-8 has no lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Storable = AfterValidator(_storable)
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), Storable]
# Query values taken literally (not trimmed).
QueryText = Annotated[str, StringConstraints(max_length=100), Storable]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only), AfterValidator(_to_utc)]
RefId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PatchModel(InputModel):
    """PATCH bodies: absent fields stay as they are; `null` only where the field allows it."""

    non_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in self.model_fields_set & self.non_nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


ItemT = TypeVar("ItemT")


class PageOf(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
    total: int | None = Field(default=None, description="Only with include_total=true")
