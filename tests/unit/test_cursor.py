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


def test_a_cursor_signed_with_another_secret_is_refused_and_rotation_keeps_old_ones() -> None:
    from backend.repositories import cursor as cursors

    saved = cursors.keys
    try:
        cursors.use_keys([b"old-secret"])
        old = encode_cursor("teams:name,id", ["Arsenal", 1])
        cursors.use_keys([b"another-secret"])
        with pytest.raises(InvalidCursor):
            decode_cursor("teams:name,id", old, [str, int])
        cursors.use_keys([b"new-secret", b"old-secret"])  # CURSOR_SECRET_PREVIOUS=old-secret
        assert decode_cursor("teams:name,id", old, [str, int]) == ["Arsenal", 1]
        new = encode_cursor("teams:name,id", ["Arsenal", 1])
        assert new != old
        cursors.use_keys([b"new-secret"])  # the old secret retired: its cursors end
        assert decode_cursor("teams:name,id", new, [str, int]) == ["Arsenal", 1]
        with pytest.raises(InvalidCursor):
            decode_cursor("teams:name,id", old, [str, int])
    finally:
        cursors.keys = saved


def test_the_old_public_constant_no_longer_signs() -> None:
    # Forged the way the published source allowed until the key became a secret.
    import base64
    import hashlib
    import hmac

    body = b'["\\u0000",1]'
    tag = hmac.new(b"oddsdesk-cursor-v1", b"teams:name,id\x00" + body, hashlib.sha256).digest()[:8]
    forged = base64.urlsafe_b64encode(tag + body).rstrip(b"=").decode()
    with pytest.raises(InvalidCursor):
        decode_cursor("teams:name,id", forged, [str, int])


@pytest.mark.parametrize("value", ["Ars\x00enal", "\x00"])
def test_a_signed_cursor_carrying_nul_is_refused(value: str) -> None:
    cursor = encode_cursor("teams:name,id", [value, 1])
    with pytest.raises(InvalidCursor):
        decode_cursor("teams:name,id", cursor, [str, int])


@pytest.mark.parametrize("cursor", ["\x00", "abc\x00def", "ÄÖÜ", "١٢٣"])
def test_nul_and_non_ascii_cursor_text_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor("teams:name,id", cursor, [str, int])
