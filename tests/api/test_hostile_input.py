"""Input a careless or hostile client sends: forged cursors, odd money strings, padded keys.

Each is answered with a clear 4xx problem and changes nothing; none is a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import assert_problem, bet_body, count_statements, idem, make_tenant, unique

# -- cursors ----------------------------------------------------------------------------------


def _forged(scope: str, body: bytes) -> str:
    """A cursor signed the way the published source did while its key was a constant."""
    tag = hmac.new(b"oddsdesk-cursor-v1", scope.encode() + b"\x00" + body, hashlib.sha256)
    return base64.urlsafe_b64encode(tag.digest()[:8] + body).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "body",
    [b'["\\u0000",1]', b'["Arsenal",1]', b'["A",-1]'],
    ids=["nul-name", "plain", "negative-id"],
)
def test_a_forged_cursor_is_422(
    client: TestClient, admin_headers: dict[str, str], body: bytes
) -> None:
    # The first one was a 500 (PostgreSQL refuses NUL in text) while anyone could sign cursors.
    response = client.get(
        "/v1/teams", params={"cursor": _forged("teams:name,id", body)}, headers=admin_headers
    )
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("cursor", ["\x00", "a\x00b", "ÄÖÜ", "\u0661\u0662\u0663", " ", "=" * 12])
def test_cursor_text_that_is_no_cursor_is_422(
    client: TestClient, admin_headers: dict[str, str], cursor: str
) -> None:
    response = client.get("/v1/teams", params={"cursor": cursor}, headers=admin_headers)
    assert_problem(response, 422, "validation-error")


def test_a_real_cursor_still_pages(client: TestClient, admin_headers: dict[str, str]) -> None:
    for _ in range(3):
        client.post("/v1/teams", json={"name": unique("Cursor FC")}, headers=admin_headers)
    first = client.get("/v1/teams", params={"limit": 2}, headers=admin_headers).json()
    assert first["next_cursor"]
    second = client.get(
        "/v1/teams", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin_headers
    )
    assert second.status_code == 200
    assert {t["id"] for t in second.json()["items"]}.isdisjoint(t["id"] for t in first["items"])


# -- money: the JSON number grammar, ASCII digits --------------------------------------------

REFUSED = [
    "1_000",  # Decimal() and int() take underscores
    "\uff11\uff10",  # full-width digits
    "\u0661\u0660",  # Arabic-Indic digits
    "+10",
    "\t10",
    "10 ",
    " 10",
    "10\n",
    "1e1",
    "010",
    ".5",
    "5.",
    "NaN",
    "Infinity",
    "",
    "10\x00",
]


@pytest.mark.parametrize("stake", REFUSED, ids=repr)
def test_a_stake_outside_the_grammar_is_422_and_debits_nothing(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    stake: str,
) -> None:
    body = bet_body(strategy["id"], market["match_id"], market["bookmaker_id"], stake=stake)
    response = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    problem = assert_problem(response, 422, "validation-error")
    assert any(e["loc"][-1] == "stake" for e in problem["errors"])
    after = client.get(f"/v1/strategies/{strategy['id']}", headers=tenant_headers).json()
    assert after["bankroll"] == strategy["bankroll"]


@pytest.mark.parametrize(
    "bankroll", ["1_000", "\uff11\uff10\uff10\uff10", "+1000", "\t1000", "1000\u00a0"]
)
def test_a_bankroll_outside_the_grammar_is_422(
    client: TestClient, tenant_headers: dict[str, str], bankroll: str
) -> None:
    response = client.post(
        "/v1/strategies",
        json={"name": unique("Grammar"), "bankroll": bankroll, "max_stake": "10"},
        headers=tenant_headers,
    )
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("price", ["\uff12.10", "+2.10", "2,10", "2.1e0", " 2.10"])
def test_a_price_outside_the_grammar_is_422(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    price: str,
) -> None:
    body = bet_body(strategy["id"], market["match_id"], market["bookmaker_id"], price=price)
    response = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("zero", ["-0", "-0.00", 0, "0"], ids=repr)
def test_minus_zero_is_zero(client: TestClient, tenant_headers: dict[str, str], zero: Any) -> None:
    response = client.post(
        "/v1/strategies",
        json={"name": unique("Zero"), "bankroll": zero, "max_stake": "10"},
        headers=tenant_headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["bankroll"] == "0.00"


@pytest.mark.parametrize(
    ("stake", "stored"), [("10", "10.00"), ("10.5", "10.50"), ("10.500", "10.50"), (7, "7.00")]
)
def test_grammatical_stakes_are_accepted_exactly(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    stake: Any,
    stored: str,
) -> None:
    body = bet_body(strategy["id"], market["match_id"], market["bookmaker_id"], stake=stake)
    response = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    assert response.status_code == 201, response.text
    assert response.json()["stake"] == stored
    after = client.get(f"/v1/strategies/{strategy['id']}", headers=tenant_headers).json()
    assert Decimal(after["bankroll"]) == Decimal(strategy["bankroll"]) - Decimal(stored)


# -- Idempotency-Key: whitespace around the value is not part of it --------------------------


@pytest.mark.parametrize("padded", ["{k} ", " {k}", "\t{k}\t", "  {k}  "])
def test_a_padded_idempotency_key_is_the_same_key(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    padded: str,
) -> None:
    key = unique("key")
    body = bet_body(strategy["id"], market["match_id"], market["bookmaker_id"])
    first = client.post("/v1/bets", json=body, headers={**tenant_headers, "Idempotency-Key": key})
    assert first.status_code == 201
    again = client.post(
        "/v1/bets",
        json=body,
        headers={**tenant_headers, "Idempotency-Key": padded.format(k=key)},
    )
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    after = client.get(f"/v1/strategies/{strategy['id']}", headers=tenant_headers).json()
    assert Decimal(after["bankroll"]) == Decimal(strategy["bankroll"]) - Decimal("10.00")


@pytest.mark.parametrize("key", ["   ", "\t", "a\x00b", "ключ", "x" * 256])
def test_an_empty_or_unprintable_idempotency_key_is_400(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    key: str,
) -> None:
    body = bet_body(strategy["id"], market["match_id"], market["bookmaker_id"])
    headers = {**tenant_headers, "Idempotency-Key": key}
    try:
        response = client.post("/v1/bets", json=body, headers=headers)
    except UnicodeEncodeError:
        # httpx refuses to send a non-ASCII header itself: encoded as UTF-8 bytes, as a raw
        # client would send them.
        encoded = {**tenant_headers, "Idempotency-Key": key.encode()}
        response = client.post("/v1/bets", json=body, headers=encoded)  # type: ignore[dict-item]
    assert_problem(response, 400, "invalid-idempotency-key")


# -- unknown API keys: refused from memory after the first lookup ----------------------------


def test_a_flood_of_one_unknown_key_costs_one_lookup(
    client: TestClient, db: Any, tenant_headers: dict[str, str]
) -> None:
    bogus = {"Authorization": "Bearer odk_" + uuid.uuid4().hex * 2}
    with count_statements(db.engine) as statements:
        for _ in range(200):
            assert_problem(client.get("/v1/strategies", headers=bogus), 401)
    lookups = [s for s in statements if "api_keys" in s]
    assert len(lookups) == 1, len(lookups)
    # A real key is not slowed or refused by it.
    assert client.get("/v1/strategies", headers=tenant_headers).status_code == 200


def test_a_revoked_key_is_refused_at_once_and_stays_refused(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    assert client.get("/v1/strategies", headers=headers).status_code == 200
    key_id = tenant["api_key"]["id"]
    revoked = client.delete(f"/v1/admin/api-keys/{key_id}", headers=admin_headers)
    assert revoked.status_code in (200, 204), revoked.text
    for _ in range(3):
        assert_problem(client.get("/v1/strategies", headers=headers), 401)
