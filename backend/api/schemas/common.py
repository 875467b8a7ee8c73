"""Field types shared by the request and response schemas."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from backend.core.ids import MAX_INT_ID
from backend.core.timestamps import TIMESTAMP_RE, is_rfc3339

MAX_ID = MAX_INT_ID
# What `_storable` enforces, as an OpenAPI pattern.
NUL_FREE = r"^[^\x00]*$"


class SchemaExtra:
    """Keywords added to a type's generated JSON Schema: rules its validators enforce that
    pydantic cannot see (an AfterValidator has no schema of its own)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords: Mapping[str, Any] = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


def _rfc3339_only(value: Any) -> Any:
    """Only the RFC 3339 text itself: pydantic would read a number, or a string of digits such
    as "1830000001", as Unix time."""
    if isinstance(value, datetime) or (isinstance(value, str) and is_rfc3339(value)):
        return value
    raise ValueError(
        "must be an RFC 3339 timestamp string with an offset, e.g. 2026-08-15T14:00:00Z"
    )


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
NulFree = SchemaExtra(pattern=NUL_FREE)
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Storable,
    NulFree,
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100), Storable, NulFree
]
# Query values taken literally (not trimmed).
QueryText = Annotated[str, StringConstraints(max_length=100), Storable, NulFree]
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_only),
    AfterValidator(_to_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_RE}),
]
RefId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PatchModel(InputModel):
    """PATCH bodies: absent fields stay as they are; `null` only where the field allows it.

    The fields named in `non_nullable` are optional but never null: the validator below
    refuses an explicit null, and the JSON Schema says so (no `null` branch, no null default).
    """

    non_nullable: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        properties = handler.resolve_ref_schema(schema).get("properties", {})
        for name in cls.non_nullable:
            properties[name] = _without_null(properties[name])
        return schema

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in self.model_fields_set & self.non_nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with its `null` alternative (and null default) taken out."""
    out = {k: v for k, v in prop.items() if not (k == "default" and v is None)}
    branches = [b for b in out.pop("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        out = {**branches[0], **out}
    elif branches:
        out["anyOf"] = branches
    return out


ItemT = TypeVar("ItemT")


class PageOf(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
    total: int | None = Field(default=None, description="Only with include_total=true")
