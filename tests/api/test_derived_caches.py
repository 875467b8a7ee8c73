"""Team profiles and leaderboard pages are cached per worker until what rebuilds them commits:
a recompute (or a change of the team) for a profile, a leaderboard refresh for a board. Each
rebuild is announced on PostgreSQL's invalidation channel, so other workers drop theirs too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.core.config import Settings
from backend.core.database import create_database
from tests.helpers import (
    bet_body,
    count_statements,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_team,
    make_tenant,
)


def _stats(client: TestClient, admin: dict[str, str], cache: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/admin/cache", headers=admin).json()["caches"][cache]
    return body


def _finish(
    client: TestClient, admin: dict[str, str], home: int, away: int, score: str, day: int = 3
) -> None:
    match = make_match(
        client, admin, home_team_id=home, away_team_id=away, kickoff_at=f"2024-02-{day:02}T15:00Z"
    )
    h, a = (int(x) for x in score.split("-"))
    result = client.post(
        f"/v1/matches/{match['id']}/result",
        json={"home_score": h, "away_score": a},
        headers=admin,
    )
    assert result.status_code == 200, result.text


def _recompute(client: TestClient, admin: dict[str, str]) -> None:
    assert client.post("/v1/analytics/recompute", headers=admin).status_code == 200


def _until(read: Callable[[], Any], wanted: Any) -> Any:
    """`read()` polled until it answers `wanted` (or 3 s pass); its last answer."""
    deadline = time.monotonic() + 3
    seen = read()
    while seen != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = read()
    return seen


@contextmanager
def _two_workers(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    from backend.api.app import create_app

    dbs = [create_database(settings) for _ in range(2)]
    try:
        with (
            TestClient(create_app(settings, dbs[0])) as a,
            TestClient(create_app(settings, dbs[1])) as b,
        ):
            yield a, b
    finally:
        for db in dbs:
            db.dispose()


def test_a_cached_profile_runs_no_statement_and_follows_recompute_and_rename(
    app: Any, client: TestClient, admin_headers: dict[str, str]
) -> None:
    home, away = make_team(client, admin_headers), make_team(client, admin_headers)
    _finish(client, admin_headers, home["id"], away["id"], "2-0")
    _recompute(client, admin_headers)
    url = f"/v1/teams/{home['id']}/profile"
    assert client.get(url, headers=admin_headers).json()["form"] == ["W"]  # loads
    before = _stats(client, admin_headers, "team_profiles")
    with count_statements(app.state.db.engine) as statements:
        cached = client.get(url, headers=admin_headers)
    assert cached.json()["form"] == ["W"]
    assert statements == []  # the admin key needs no re-check: no I/O at all
    assert _stats(client, admin_headers, "team_profiles")["hits"] == before["hits"] + 1

    _finish(client, admin_headers, away["id"], home["id"], "1-1", day=10)
    assert client.get(url, headers=admin_headers).json()["form"] == ["W"]  # not recomputed yet
    _recompute(client, admin_headers)
    assert client.get(url, headers=admin_headers).json()["form"] == ["W", "D"]  # oldest first

    renamed = client.patch(
        f"/v1/teams/{home['id']}",
        json={"name": f"Renamed {home['name']}"},
        headers={**admin_headers, "If-Match": '"1"'},
    )
    assert renamed.status_code == 200
    body = client.get(url, headers=admin_headers).json()
    assert body["team"]["name"] == f"Renamed {home['name']}"


def test_another_workers_recompute_and_a_plain_sql_rebuild_reach_a_cached_profile(
    settings: Settings, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    with _two_workers(settings) as (a, b):
        home, away = make_team(a, admin_headers), make_team(a, admin_headers)
        _finish(a, admin_headers, home["id"], away["id"], "0-3")
        _recompute(a, admin_headers)
        url = f"/v1/teams/{home['id']}/profile"

        def matches() -> int:
            found: int = a.get(url, headers=admin_headers).json()["matches"]
            return found

        assert matches() == 1 and matches() == 1  # A caches it
        _finish(b, admin_headers, home["id"], away["id"], "1-0", day=10)
        _recompute(b, admin_headers)  # B rebuilds: A learns it from the table's trigger
        assert _until(matches, 2) == 2

        with raw_engine.begin() as conn:  # an operator's fix in psql is announced as well
            conn.execute(
                text("UPDATE analytics.team_profiles SET matches = 99 WHERE team_id = :t"),
                {"t": home["id"]},
            )
        assert _until(matches, 99) == 99


def _settled_board(
    client: TestClient, admin: dict[str, str], tenant: dict[str, str], won: bool, raw: Engine
) -> dict[str, Any]:
    """A strategy of `tenant` with one bet on a match that then kicks off (moved into the
    past in plain SQL) and finishes; the strategy."""
    strategy = make_strategy(client, tenant)
    match = make_match(client, admin, kickoff_at="2036-01-01T15:00:00Z")
    book = make_bookmaker(client, admin)
    placed = client.post(
        "/v1/bets", json=bet_body(strategy["id"], match["id"], book["id"]), headers=idem(tenant)
    )
    assert placed.status_code == 201, placed.text
    with raw.begin() as conn:
        conn.execute(
            text("UPDATE matches SET kickoff_at = now() - interval '2 hours' WHERE id = :m"),
            {"m": match["id"]},
        )
    score = {"home_score": 1 if won else 0, "away_score": 0}
    result = client.post(f"/v1/matches/{match['id']}/result", json=score, headers=admin)
    assert result.status_code == 200 and result.json()["settled_bets"] == 1
    return strategy


def _board(client: TestClient, tenant: dict[str, str]) -> list[tuple[str, str]]:
    response = client.get("/v1/leaderboard", headers=tenant)
    assert response.status_code == 200, response.text
    return [(e["strategy"]["id"], e["pnl"]) for e in response.json()["items"]]


def test_a_cached_leaderboard_is_per_tenant_and_follows_every_settlement(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    _, a = make_tenant(client, admin_headers)
    _, b = make_tenant(client, admin_headers)
    first = _settled_board(client, admin_headers, a, won=True, raw=raw_engine)
    assert _board(client, a) == [(first["id"], "11.50")]  # loads
    before = _stats(client, admin_headers, "leaderboards")
    assert _board(client, a) == [(first["id"], "11.50")]  # hit
    assert _stats(client, admin_headers, "leaderboards")["hits"] == before["hits"] + 1
    assert _board(client, b) == []  # another tenant never gets A's cached page

    second = _settled_board(
        client, admin_headers, a, won=False, raw=raw_engine
    )  # the refresh drops pages
    assert _board(client, a) == [(first["id"], "11.50"), (second["id"], "-10.00")]
    other = _settled_board(client, admin_headers, b, won=False, raw=raw_engine)
    assert _board(client, b) == [(other["id"], "-10.00")]


def test_another_workers_settlement_reaches_a_cached_leaderboard(
    settings: Settings, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    with _two_workers(settings) as (a, b):
        _, tenant = make_tenant(a, admin_headers)
        assert _board(a, tenant) == [] and _board(a, tenant) == []  # A caches the empty page
        made = _settled_board(b, admin_headers, tenant, won=True, raw=raw_engine)
        assert _until(lambda: _board(a, tenant), [(made["id"], "11.50")]) == [(made["id"], "11.50")]
