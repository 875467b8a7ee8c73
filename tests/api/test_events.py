"""The events outbox and the feed: every accepted change has its event in the same transaction
(a refused or rolled-back one none), a tenant reads its own and the reference events, resumes
exactly after its cursor, long-polls without busy waiting, and loses nothing when writers
commit out of id order."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import (
    assert_problem,
    bet_body,
    count_rows,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)

KICKOFF = "2031-06-01T15:00:00Z"


def _feed(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _all(
    client: TestClient, headers: dict[str, str], after: str = "", expect: int = 0
) -> tuple[list[dict[str, Any]], str]:
    """Every event after `after`, page by page, and the cursor to resume from; as a client
    would, it keeps long-polling while fewer than `expect` came (a transaction open anywhere
    on the server, another test's included, holds newer events back for a while)."""
    events: list[dict[str, Any]] = []
    cursor = after
    deadline = time.monotonic() + 15
    while True:
        waiting = len(events) < expect and time.monotonic() < deadline
        page = _feed(client, headers, after=cursor, limit=100, wait=1 if waiting else 0)
        events += page["items"]
        cursor = page["cursor"]
        if not page["items"] and not waiting:
            return events, cursor


def test_each_accepted_change_announces_one_event_and_a_refused_one_none(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    (tenant, fund), (_, other) = (
        make_tenant(client, admin_headers),
        make_tenant(client, admin_headers),
    )
    _, start = _all(client, fund)
    _, other_start = _all(client, other)
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    book = make_bookmaker(client, admin_headers)
    strategy = make_strategy(client, fund, bankroll="100.00", max_stake="100.00")
    placed = client.post(
        "/v1/bets", json=bet_body(strategy["id"], match["id"], book["id"]), headers=idem(fund)
    ).json()
    refused = client.post(  # above the bankroll: 409, no event
        "/v1/bets",
        json=bet_body(strategy["id"], match["id"], book["id"], stake="95.00"),
        headers=idem(fund),
    )
    assert refused.status_code == 409
    etag = client.get(f"/v1/strategies/{strategy['id']}", headers=fund).headers["etag"]
    patched = client.patch(
        f"/v1/strategies/{strategy['id']}",
        json={"description": "late goals"},
        headers={**fund, "If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    client.post(f"/v1/strategies/{strategy['id']}/kill", json={"reason": "drawdown"}, headers=fund)
    client.post(f"/v1/strategies/{strategy['id']}/resume", json={"reason": "ok"}, headers=fund)
    with raw_engine.begin() as conn:
        conn.execute(
            text("UPDATE matches SET kickoff_at = now() - interval '1 hour' WHERE id = :m"),
            {"m": match["id"]},
        )
    at = (datetime.now(UTC) - timedelta(minutes=90)).isoformat()
    batch = {
        "snapshots": [
            {
                "match_id": match["id"],
                "bookmaker_id": book["id"],
                "market": "1x2",
                "selection": "home",
                "price": "2.000",
                "captured_at": at,
            }
        ]
    }
    assert client.post("/v1/odds/batch", json=batch, headers=admin_headers).json()["inserted"] == 1
    assert client.post("/v1/odds/batch", json=batch, headers=admin_headers).json()["inserted"] == 0
    result = client.post(
        f"/v1/matches/{match['id']}/result",
        json={"home_score": 2, "away_score": 0},
        headers=admin_headers,
    )
    assert result.status_code == 200

    events, _ = _all(client, fund, start, expect=8)
    ours = (placed["id"], strategy["id"], str(match["id"]))
    events = [
        e
        for e in events
        if e["entity_id"] in ours or match["id"] in e["payload"].get("match_ids", ())
    ]
    mine = [(e["type"], e["entity_id"]) for e in events]
    assert mine == [
        ("strategy.created", strategy["id"]),
        ("bet.placed", placed["id"]),
        ("strategy.updated", strategy["id"]),
        ("strategy.killed", strategy["id"]),
        ("strategy.resumed", strategy["id"]),
        ("odds.ingested", mine[5][1]),
        ("match.result", str(match["id"])),
        ("bet.settled", placed["id"]),
    ]
    by_type = {e["type"]: e for e in events}
    assert by_type["bet.placed"]["payload"]["stake"] == "10.00"
    settled = by_type["bet.settled"]["payload"]
    assert (settled["status"], settled["strategy_id"], settled["match_id"]) == (
        "won",
        strategy["id"],
        match["id"],
    )
    assert by_type["odds.ingested"]["payload"] == {"inserted": 1, "match_ids": [match["id"]]}
    assert by_type["match.result"]["payload"]["home_score"] == 2
    # Events and audit entries of the tenant agree: one event per announcing change.
    audited = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE tenant_id = :t AND entity_type = 'bet'",
        t=tenant["id"],
    )
    assert audited == sum(1 for e in events if e["type"].startswith("bet."))
    # Another tenant sees the reference events and nothing of this tenant's.
    theirs, _ = _all(client, other, other_start, expect=2)
    assert {e["type"] for e in theirs} >= {"odds.ingested", "match.result"}
    assert not [e for e in theirs if e["type"].startswith(("bet.", "strategy."))]


def test_the_feed_resumes_after_its_cursor_filters_by_type_and_refuses_bad_input(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, fund = make_tenant(client, admin_headers)
    _, cursor = _all(client, fund)
    made = [make_strategy(client, fund)["id"] for _ in range(5)]
    first = _feed(client, fund, after=cursor, limit=2, types="strategy.created")
    assert [e["entity_id"] for e in first["items"]] == made[:2]
    assert first["cursor"] == first["items"][-1]["cursor"]
    rest = _feed(client, fund, after=first["cursor"], types="strategy.created")
    assert [e["entity_id"] for e in rest["items"]] == made[2:]
    empty = _feed(client, fund, after=rest["cursor"])
    assert empty == {"items": [], "cursor": rest["cursor"]}
    assert_problem(client.get("/v1/events", params={"after": "x"}, headers=fund), 422)
    assert_problem(client.get("/v1/events", params={"types": "bet.won"}, headers=fund), 422)
    assert_problem(client.get("/v1/events", params={"wait": 31}, headers=fund), 422)
    # limit: 1 to 1000, default 100.
    for limit in (0, 1001, -1, "x"):
        assert_problem(client.get("/v1/events", params={"limit": limit}, headers=fund), 422)
    assert len(_feed(client, fund, after=cursor, limit=1)["items"]) == 1
    assert len(_feed(client, fund, after=cursor, limit=1000)["items"]) == 5
    assert_problem(client.get("/v1/events", headers=admin_headers), 403)


def test_a_long_poll_is_woken_by_the_next_event_and_an_empty_one_ends_on_time(
    app: Any, client: TestClient, admin_headers: dict[str, str]
) -> None:
    _, fund = make_tenant(client, admin_headers)
    _, cursor = _all(client, fund)
    began = time.monotonic()
    quiet = _feed(client, fund, after=cursor, wait=1)
    assert quiet["items"] == [] and 0.9 <= time.monotonic() - began < 3

    made: list[str] = []

    def later() -> None:
        time.sleep(0.5)
        made.append(make_strategy(client, fund)["id"])

    writer = threading.Thread(target=later)
    began = time.monotonic()
    writer.start()
    woken = _feed(client, fund, after=cursor, wait=10)
    elapsed = time.monotonic() - began
    writer.join()
    assert [e["entity_id"] for e in woken["items"]] == made
    assert elapsed < 3  # woken by the commit's NOTIFY, not by the 10 s timeout
    # Every answered request, waiting or not, has left the notifier: nothing it keeps grows
    # with the number of reads, and a commit wakes no one who is gone.
    for _ in range(50):
        _feed(client, fund, after=cursor)
    assert app.state.event_notifier.waiting == 0


def _insert_event(conn: Any, tenant_id: str, n: int) -> None:
    conn.execute(
        text(
            "INSERT INTO events (tenant_id, type, entity_type, entity_id, payload) "
            "VALUES (:t, 'strategy.updated', 'strategy', :n, '{}')"
        ),
        {"t": tenant_id, "n": str(n)},
    )


def test_an_event_committed_behind_a_reader_is_held_back_until_it_can_be_read_in_order(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    tenant, fund = make_tenant(client, admin_headers)
    _, cursor = _all(client, fund)
    with raw_engine.connect() as early, raw_engine.connect() as late:
        early.execute(text("SELECT pg_current_xact_id()"))  # the older transaction
        _insert_event(late, tenant["id"], 2)  # the lower id, the newer transaction
        late.commit()
        # Committed, but an older transaction is still open: not readable yet.
        held = _feed(client, fund, after=cursor)
        assert held == {"items": [], "cursor": cursor}
        _insert_event(early, tenant["id"], 1)  # a higher id, the older transaction
        early.commit()
    events, _ = _all(client, fund, cursor, expect=2)
    assert [e["entity_id"] for e in events] == ["1", "2"]  # both, in the feed's order
    assert events[0]["id"] > events[1]["id"]  # ids were committed out of order


@pytest.mark.parametrize("round_", range(20))
def test_concurrent_writers_committing_out_of_order_lose_nothing_for_a_reader(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, round_: int
) -> None:
    """8 writers, each inserting events in transactions that stay open a random while (so
    ids commit out of order), while a reader follows the feed: it gets every event exactly
    once."""
    tenant, fund = make_tenant(client, admin_headers)
    _, cursor = _all(client, fund)
    writers, per_writer = 8, 5
    rng = random.Random(round_)
    pauses = [[rng.random() * 0.02 for _ in range(per_writer)] for _ in range(writers)]
    done = threading.Event()

    def write(w: int) -> None:
        with raw_engine.connect() as conn:
            for i, pause in enumerate(pauses[w]):
                _insert_event(conn, tenant["id"], w * 100 + i)
                time.sleep(pause)
                conn.commit()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    seen: list[str] = []
    watcher = threading.Thread(target=lambda: ([t.join() for t in threads], done.set()))
    watcher.start()
    while not done.is_set():
        page = _feed(client, fund, after=cursor, limit=7)
        seen += [e["entity_id"] for e in page["items"]]
        cursor = page["cursor"]
    rest, _ = _all(client, fund, cursor, expect=writers * per_writer - len(seen))
    seen += [e["entity_id"] for e in rest]
    watcher.join()
    expected = sorted(str(w * 100 + i) for w in range(writers) for i in range(per_writer))
    assert sorted(seen) == expected  # every event, none twice
