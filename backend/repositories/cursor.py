"""Opaque keyset cursors: the sort key values of the last row of a page, tagged and checksummed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from backend.core.errors import InvalidInput

# Not a secret: it only lets us tell our cursors from anything else a client sends.
_TAG_KEY = b"oddsdesk-cursor-v1"
_TAG_LEN = 8


class InvalidCursor(InvalidInput):
    def __init__(self) -> None:
        super().__init__("cursor is not one this API issued", loc=("query", "cursor"))


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def _decode_value(raw: Any, python_type: type) -> Any:
    if raw is None:
        return None
    if python_type is datetime and isinstance(raw, str):
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed
    if python_type is uuid.UUID and isinstance(raw, str):
        return uuid.UUID(raw)
    if python_type is Decimal and isinstance(raw, str):
        return Decimal(raw)
    if python_type is int and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if python_type is str and isinstance(raw, str):
        return raw
    if python_type is bool and isinstance(raw, bool):
        return raw
    raise ValueError(f"unexpected {type(raw).__name__} for {python_type.__name__}")


def _tag(scope: str, body: bytes) -> bytes:
    return hmac.new(_TAG_KEY, scope.encode() + b"\x00" + body, hashlib.sha256).digest()[:_TAG_LEN]


def encode_cursor(scope: str, values: Sequence[Any]) -> str:
    """`scope` names the listing and its order, so a cursor of one list is refused by another."""
    body = orjson.dumps([_encode_value(v) for v in values])
    return base64.urlsafe_b64encode(_tag(scope, body) + body).rstrip(b"=").decode()


def decode_cursor(scope: str, cursor: str, types: Sequence[type]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, body = raw[:_TAG_LEN], raw[_TAG_LEN:]
        if len(tag) != _TAG_LEN or not hmac.compare_digest(tag, _tag(scope, body)):
            raise InvalidCursor
        values = orjson.loads(body)
        if not isinstance(values, list) or len(values) != len(types):
            raise InvalidCursor
        return [_decode_value(v, t) for v, t in zip(values, types, strict=True)]
    except InvalidCursor:
        raise
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursor from None
