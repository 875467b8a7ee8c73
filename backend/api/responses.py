"""Responses built straight from schemas: serialized once, by pydantic-core."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel, TypeAdapter

from backend.core.versioning import etag
from backend.repositories.pages import Page

JSON = "application/json"
# Tenant data must never sit in a shared cache.
PRIVATE = {"Cache-Control": "no-store"}


def json_response(
    body: BaseModel | Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    content = body.model_dump_json() if isinstance(body, BaseModel) else orjson.dumps(body)
    return Response(content=content, status_code=status, media_type=JSON, headers=headers)


def resource_response(
    body: BaseModel,
    *,
    version: int | None,
    status: int = 200,
    location: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One resource, with its strong ETag (and Location when it was just created)."""
    all_headers = dict(headers or {})
    if version is not None:
        all_headers["ETag"] = etag(version)
    if location is not None:
        all_headers["Location"] = location
    return json_response(body, status=status, headers=all_headers)


def _plain_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@cache
def _list_of(schema: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]


def plain_json(rows: Any) -> bytes:
    """Read-model rows (values straight from PostgreSQL's typed columns) as the schemas would
    write them: UTC timestamps with `Z`, decimals as strings."""
    return orjson.dumps(rows, option=orjson.OPT_UTC_Z, default=_plain_default)


def items_response(rows: Sequence[Mapping[str, Any]]) -> Response:
    """`{"items": [...]}` of read-model rows."""
    return Response(content=b'{"items":' + plain_json(rows) + b"}", media_type=JSON)


def page_response(
    schema: type[BaseModel],
    page: Page[Any],
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`{"items", "next_cursor"}` plus `"total"` only when it was asked for.

    Entities are validated into `schema` and serialized by pydantic-core, in one call each
    for the whole page. A read model's rows (`page.plain`: dicts shaped like `schema`, values
    straight from PostgreSQL's typed columns) are serialized by orjson as they are, in the
    same format (UTC timestamps with `Z`, decimals as strings); tests hold every such
    listing to its resource's own GET, field for field."""
    if page.plain:
        items_json = plain_json(page.items)
    else:
        adapter = _list_of(schema)
        items_json = adapter.dump_json(adapter.validate_python(page.items, from_attributes=True))
    parts = [b'{"items":', items_json, b',"next_cursor":']
    parts.append(orjson.dumps(page.next_cursor))
    if page.total is not None:
        parts.append(b',"total":' + orjson.dumps(page.total))
    parts.append(b"}")
    return Response(content=b"".join(parts), media_type=JSON, headers=headers)
