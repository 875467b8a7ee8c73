"""Opaque keyset cursors: the sort key values of the last row of a page, signed.

The signature is an HMAC-SHA256 (truncated to 8 bytes) under CURSOR_SECRET, so a client cannot
forge a cursor (say, one carrying values no page ever ended on). The API installs its keys at
start-up (`use_keys`): the current one signs, every one of them verifies, which is how a
secret is rotated (CURSOR_SECRET_PREVIOUS). A process that never installs keys (a script)
signs with a random key of its own, valid only while it runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from backend.core.errors import InvalidInput

TAG_LEN = 8


class CursorKeys:
    """The signing keys: `current` signs, any of `all` verifies."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys or not all(keys):
            raise ValueError("at least one non-empty cursor key")
        self.current = keys[0]
        self.all = tuple(keys)


keys = CursorKeys([secrets.token_bytes(32)])


def use_keys(signing_keys: Sequence[bytes]) -> None:
    """Install the process's cursor keys (the API does, from CURSOR_SECRET[_PREVIOUS])."""
    global keys
    keys = CursorKeys(signing_keys)


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
        if "\x00" in raw:
            raise ValueError("NUL in a text key")
        return raw
    if python_type is bool and isinstance(raw, bool):
        return raw
    raise ValueError(f"unexpected {type(raw).__name__} for {python_type.__name__}")


def _tag(key: bytes, scope: str, body: bytes) -> bytes:
    return hmac.new(key, scope.encode() + b"\x00" + body, hashlib.sha256).digest()[:TAG_LEN]


def encode_cursor(scope: str, values: Sequence[Any]) -> str:
    """`scope` names the listing and its order, so a cursor of one list is refused by another."""
    body = orjson.dumps([_encode_value(v) for v in values])
    return base64.urlsafe_b64encode(_tag(keys.current, scope, body) + body).rstrip(b"=").decode()


def decode_cursor(scope: str, cursor: str, types: Sequence[type]) -> list[Any]:
    try:
        if not cursor.isascii():
            raise InvalidCursor
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, body = raw[:TAG_LEN], raw[TAG_LEN:]
        if len(tag) != TAG_LEN or not any(
            hmac.compare_digest(tag, _tag(key, scope, body)) for key in keys.all
        ):
            raise InvalidCursor
        values = orjson.loads(body)
        if not isinstance(values, list) or len(values) != len(types):
            raise InvalidCursor
        return [_decode_value(v, t) for v, t in zip(values, types, strict=True)]
    except InvalidCursor:
        raise
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursor from None
