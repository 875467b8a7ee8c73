"""Placing bets: every rule of API.md, and the bankroll untouched by every rejection."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from backend.core.database import Database
from tests.helpers import (
    assert_problem,
    bet_body,
    count_rows,
    count_statements,
    idem,
    make_match,
    make_strategy,
    make_tenant,
)


def _bankroll(client: TestClient, headers: dict[str, str], strategy_id: str) -> str:
    bankroll: str = client.get(f"/v1/strategies/{strategy_id}", headers=headers).json()["bankroll"]
    return bankroll


def test_placed_bet_debits_bankroll_and_is_audited_twice(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    raw_engine: Engine,
) -> None:
    body = bet_body(strategy["id"], **market, stake="12.34", price="2.155")
    response = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    assert response.status_code == 201
    bet = response.json()
    assert response.headers["location"] == f"/v1/bets/{bet['id']}"
    assert response.headers["cache-control"] == "no-store"
    assert "idempotent-replayed" not in response.headers
    assert (bet["stake"], bet["price"], bet["potential_return"]) == ("12.34", "2.155", "26.59")
    assert (bet["status"], bet["settled_at"], bet["closing_price"], bet["clv"], bet["pnl"]) == (
        "open",
        None,
        None,
        None,
        None,
    )
    assert bet["placed_at"].endswith("Z")
    strategy_now = client.get(f"/v1/strategies/{strategy['id']}", headers=tenant_headers).json()
    assert strategy_now["bankroll"] == "987.66" and strategy_now["version"] == 2
    assert client.get(f"/v1/bets/{bet['id']}", headers=tenant_headers).json() == bet
    rows = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE request_id = "
        "(SELECT request_id FROM audit_log WHERE entity_id=:b)",
        b=bet["id"],
    )
    assert rows == 2


def test_audit_rows_keep_client_text_verbatim(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
) -> None:
    """The bet's audit rows travel as SQL text in front of another statement: quotes,
    percent signs and format codes in the client's reason arrive exactly as sent."""
    reason = "100% sure; it's '%s' %(x)s %% -- \\ done"
    body = bet_body(strategy["id"], **market)
    headers = {**idem(tenant_headers), "X-Change-Reason": reason}
    response = client.post("/v1/bets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    bet_id = response.json()["id"]
    audit = client.get("/v1/audit", params={"entity_id": bet_id}, headers=tenant_headers)
    [entry] = audit.json()["items"]
    assert entry["change_reason"] == reason
    assert entry["changes"]["stake"] == [None, body["stake"]]
    debit = client.get(
        "/v1/audit", params={"entity_id": strategy["id"]}, headers=tenant_headers
    ).json()["items"]
    assert [e["change_reason"] for e in debit if e["action"] == "update"] == [reason]


def test_a_bet_is_two_round_trips_with_the_key_check_and_audit_rows_riding_along(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    db: Database,
) -> None:
    """BEGIN, the key check, the RLS context, the key's, market's and strategy's locks and the
    debit-and-insert; then the answer's record, the audit rows and COMMIT (the context read
    runs only when the debit placed nothing). psycopg2 sends no BEGIN or COMMIT of its own
    (the connection is in autocommit mode: the unit drives the transaction), and the hot
    statements run prepared."""
    body = bet_body(strategy["id"], **market)
    client.post("/v1/bets", json=body, headers=idem(tenant_headers))  # warm: auth cached
    autocommit: list[bool] = []

    def _mode(conn: Any, *args: Any) -> None:
        autocommit.append(conn.connection.dbapi_connection.autocommit)

    event.listen(db.engine, "before_cursor_execute", _mode)
    try:
        with count_statements(db.engine) as statements:
            response = client.post("/v1/bets", json=body, headers=idem(tenant_headers))
    finally:
        event.remove(db.engine, "before_cursor_execute", _mode)
    assert response.status_code == 201, response.text
    assert len(statements) == 2, statements
    assert autocommit == [True, True]
    first, last = statements
    assert first.startswith("BEGIN; ")
    assert "oddsdesk_assert_api_key" in first
    assert "pg_try_advisory_xact_lock" in first
    assert "pg_advisory_xact_lock(" in first  # the strategy's (its exposure limit's sum)
    assert "EXECUTE oddsdesk_bet_debit_and_insert(" in first
    assert "oddsdesk_bet_context" not in first
    assert "set_config" not in last
    assert "EXECUTE oddsdesk_idempotency_drop_expired(" in last
    assert "EXECUTE oddsdesk_idempotency_record(" in last
    assert "EXECUTE oddsdesk_audit_insert_2(" in last
    assert last.endswith("; COMMIT")


@pytest.mark.parametrize("key", [None, "", " " * 3, "k" * 256, "naïve", "tab\there"])
def test_bad_idempotency_key_is_400(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    key: str | None,
) -> None:
    headers: dict[str, Any] = dict(tenant_headers)
    if key is not None:
        headers["Idempotency-Key"] = key.encode()  # raw bytes: non-ASCII reaches the server
    response = client.post("/v1/bets", json=bet_body(strategy["id"], **market), headers=headers)
    assert_problem(response, 400)
    assert _bankroll(client, tenant_headers, strategy["id"]) == "1000.00"


@pytest.mark.parametrize(
    "fields",
    [
        {"stake": 0},
        {"stake": "-1"},
        {"stake": "1.001"},
        {"stake": "101"},  # over max_stake 100
        {"price": "1.000"},
        {"price": "1000.001"},
        {"price": "2.1234"},
        {"market": "btts"},
        {"market": "ou2.5", "selection": "home"},
        {"selection": "over"},
        {"match_id": 99999999},
        {"bookmaker_id": 99999999},
        {"match_id": "abc"},
        {"strategy_id": "nope"},
        {"status": "won"},
        {"stake": 2**63},
        {"price": 1e308},
    ],
)
def test_invalid_bets_are_422_and_change_nothing(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    fields: dict[str, Any],
    raw_engine: Engine,
) -> None:
    key = idem(tenant_headers)
    response = client.post(
        "/v1/bets", json=bet_body(strategy["id"], **market) | fields, headers=key
    )
    assert_problem(response, 422)
    assert _bankroll(client, tenant_headers, strategy["id"]) == "1000.00"
    assert (
        count_rows(
            raw_engine,
            "SELECT count(*) FROM idempotency_keys WHERE key=:k",
            k=key["Idempotency-Key"],
        )
        == 0
    )


def test_unknown_or_foreign_strategy_is_404(
    client: TestClient,
    admin_headers: dict[str, str],
    tenant_headers: dict[str, str],
    market: dict[str, Any],
) -> None:
    _, other = make_tenant(client, admin_headers)
    foreign = make_strategy(client, other)
    for strategy_id in (foreign["id"], "00000000-0000-0000-0000-000000000001"):
        response = client.post(
            "/v1/bets", json=bet_body(strategy_id, **market), headers=idem(tenant_headers)
        )
        assert_problem(response, 404)
    assert _bankroll(client, other, foreign["id"]) == "1000.00"


def test_killed_paused_closed_and_insufficient_are_409(
    client: TestClient,
    admin_headers: dict[str, str],
    tenant_headers: dict[str, str],
    market: dict[str, Any],
) -> None:
    killed = make_strategy(client, tenant_headers)
    client.post(f"/v1/strategies/{killed['id']}/kill", json={"reason": "r"}, headers=tenant_headers)
    paused = make_strategy(client, tenant_headers)
    client.patch(
        f"/v1/strategies/{paused['id']}",
        json={"status": "paused"},
        headers={**tenant_headers, "If-Match": '"1"'},
    )
    poor = make_strategy(client, tenant_headers, bankroll="5.00", max_stake="50")
    started = make_match(client, admin_headers, kickoff_at="2020-01-01T15:00:00Z")
    cases = [
        (killed["id"], market, "strategy-killed"),
        (paused["id"], market, "strategy-paused"),
        (poor["id"], {**market, "match_id": started["id"]}, "market-closed"),
        (poor["id"], market, "insufficient-bankroll"),
    ]
    for strategy_id, where, slug in cases:
        response = client.post(
            "/v1/bets", json=bet_body(strategy_id, **where), headers=idem(tenant_headers)
        )
        assert_problem(response, 409, slug)
    assert _bankroll(client, tenant_headers, poor["id"]) == "5.00"
    ok = client.post(
        "/v1/bets", json=bet_body(poor["id"], **market, stake="5"), headers=idem(tenant_headers)
    )
    assert ok.status_code == 201
    assert _bankroll(client, tenant_headers, poor["id"]) == "0.00"


def test_replay_returns_the_original_and_reuse_with_other_body_is_422(
    client: TestClient,
    tenant_headers: dict[str, str],
    strategy: dict[str, Any],
    market: dict[str, Any],
    raw_engine: Engine,
) -> None:
    headers = idem(tenant_headers)
    first = client.post(
        "/v1/bets", json=bet_body(strategy["id"], **market, stake="10"), headers=headers
    )
    assert first.status_code == 201
    audit_before = count_rows(raw_engine, "SELECT count(*) FROM audit_log")
    # Same request after validation: 10 == "10.00" == 10.0, key order irrelevant.
    reordered = dict(reversed(list(bet_body(strategy["id"], **market, stake=10.0).items())))
    for body in (bet_body(strategy["id"], **market, stake="10.00"), reordered):
        replay = client.post("/v1/bets", json=body, headers=headers)
        assert replay.status_code == 201
        assert replay.content == first.content
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["location"] == first.headers["location"]
    reused = client.post(
        "/v1/bets", json=bet_body(strategy["id"], **market, stake="11"), headers=headers
    )
    assert_problem(reused, 422, "idempotency-key-reused")
    assert _bankroll(client, tenant_headers, strategy["id"]) == "990.00"
    assert count_rows(raw_engine, "SELECT count(*) FROM audit_log") == audit_before


def test_rejected_request_leaves_its_key_free_for_a_fresh_attempt(
    client: TestClient,
    tenant_headers: dict[str, str],
    market: dict[str, Any],
) -> None:
    poor = make_strategy(client, tenant_headers, bankroll="5.00", max_stake="50")
    headers = idem(tenant_headers)
    assert_problem(
        client.post("/v1/bets", json=bet_body(poor["id"], **market, stake="10"), headers=headers),
        409,
        "insufficient-bankroll",
    )
    retry = client.post("/v1/bets", json=bet_body(poor["id"], **market, stake="5"), headers=headers)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


def test_keys_of_different_tenants_never_collide(
    client: TestClient, admin_headers: dict[str, str], market: dict[str, Any]
) -> None:
    (_, a), (_, b) = make_tenant(client, admin_headers), make_tenant(client, admin_headers)
    sa, sb = make_strategy(client, a), make_strategy(client, b)
    ra = client.post("/v1/bets", json=bet_body(sa["id"], **market), headers=idem(a, "shared-key"))
    rb = client.post("/v1/bets", json=bet_body(sb["id"], **market), headers=idem(b, "shared-key"))
    assert (ra.status_code, rb.status_code) == (201, 201)
    assert ra.json()["id"] != rb.json()["id"]


def test_list_bets_filters_and_pages(
    client: TestClient, tenant_headers: dict[str, str], market: dict[str, Any]
) -> None:
    s1, s2 = make_strategy(client, tenant_headers), make_strategy(client, tenant_headers)
    placed = [
        client.post(
            "/v1/bets", json=bet_body(s1["id"], **market), headers=idem(tenant_headers)
        ).json()["id"]
        for _ in range(3)
    ]
    client.post("/v1/bets", json=bet_body(s2["id"], **market), headers=idem(tenant_headers))
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"strategy_id": s1["id"], "limit": 2, "include_total": "true"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/bets", params=params, headers=tenant_headers).json()
        assert page["total"] == 3
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == placed
    assert (
        client.get(
            "/v1/bets", params={"status": "won", "strategy_id": s1["id"]}, headers=tenant_headers
        ).json()["items"]
        == []
    )


def test_a_key_held_by_a_request_in_flight_is_409_at_once_and_changes_nothing(
    client: TestClient,
    admin_headers: dict[str, str],
    market: dict[str, Any],
    raw_engine: Engine,
) -> None:
    """Another session holds the key's lock (a request still in flight): the duplicate gets
    409 without waiting, places nothing and stores nothing; once released, the key works."""
    tenant, headers = make_tenant(client, admin_headers)
    strategy = make_strategy(client, headers)
    key = "in-flight-key"
    body = bet_body(strategy["id"], **market)
    with raw_engine.connect() as holder:
        holder.execute(
            text("SELECT pg_advisory_lock(hashtextextended(:lock_id, 0))"),
            {"lock_id": f"{tenant['id']}:{key}"},
        )
        response = client.post("/v1/bets", json=body, headers=idem(headers, key))
        assert_problem(response, 409, "idempotency-key-in-flight")
        assert _bankroll(client, headers, strategy["id"]) == strategy["bankroll"]
        holder.execute(
            text("SELECT pg_advisory_unlock(hashtextextended(:lock_id, 0))"),
            {"lock_id": f"{tenant['id']}:{key}"},
        )
        holder.commit()
    placed = client.post("/v1/bets", json=body, headers=idem(headers, key))
    assert placed.status_code == 201, placed.text
    assert "idempotent-replayed" not in placed.headers


def test_a_match_filter_no_match_can_have_lists_no_bet(
    client: TestClient, tenant_headers: dict[str, str]
) -> None:
    response = client.get("/v1/bets", params={"match_id": 2**40}, headers=tenant_headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
