from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.repositories.cursor import InvalidCursor, decode_cursor, encode_cursor


def test_round_trip_keeps_types() -> None:
    when = datetime(2024, 8, 16, 19, 0, tzinfo=UTC)
    cursor = encode_cursor("matches:kickoff_at,id", [when, 42])
    assert decode_cursor("matches:kickoff_at,id", cursor, [datetime, int]) == [when, 42]


def test_cursor_of_another_listing_is_refused() -> None:
    cursor = encode_cursor("teams:name,id", ["Arsenal", 1])
    with pytest.raises(InvalidCursor):
        decode_cursor("bookmakers:name,id", cursor, [str, int])


@pytest.mark.parametrize("cursor", ["abc", "", "!!!", "eyJhIjoxfQ", "A" * 40])
def test_foreign_strings_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor("teams:name,id", cursor, [str, int])


def test_tampered_cursor_is_refused() -> None:
    cursor = encode_cursor("teams:name,id", ["Arsenal", 1])
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    with pytest.raises(InvalidCursor):
        decode_cursor("teams:name,id", tampered, [str, int])
