"""The reference-data query cache: read-through, invalidated by commits only, across workers
through PostgreSQL's announcements (and Redis when configured)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.core.database import create_database
from backend.core.principal import ADMIN
from backend.core.versioning import ExpectedVersion
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import crud
from backend.services.reference import teams
from tests.helpers import REDIS_URL, make_team, redis_up


def _stats(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/v1/admin/cache", headers=admin).json()
    return body


def test_reads_hit_the_cache_and_a_write_invalidates_it(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers, league="Old")
    url = f"/v1/teams/{team['id']}"
    before = _stats(client, admin_headers)["caches"]["teams"]
    assert client.get(url, headers=admin_headers).json()["league"] == "Old"  # miss, loads
    assert client.get(url, headers=admin_headers).json()["league"] == "Old"  # hit
    middle = _stats(client, admin_headers)["caches"]["teams"]
    assert middle["misses"] == before["misses"] + 1
    assert middle["hits"] == before["hits"] + 1
    patched = client.patch(
        url, json={"league": "New"}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert patched.status_code == 200
    fresh = client.get(url, headers=admin_headers)
    assert fresh.json()["league"] == "New"
    assert fresh.headers["etag"] == '"2"'
    after = _stats(client, admin_headers)["caches"]["teams"]
    # At commit by the unit of work; PostgreSQL's announcement may drop it once more.
    assert after["invalidations"] > middle["invalidations"]
    metrics = client.get("/metrics").text
    assert 'oddsdesk_cache_events_total{cache="teams",event="hits"}' in metrics


def test_a_rolled_back_write_does_not_invalidate(
    app: Any, client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers, league="Kept")
    other = make_team(client, admin_headers)
    client.get(f"/v1/teams/{team['id']}", headers=admin_headers)  # cached now
    caches = app.state.caches
    before = caches.teams.describe()["invalidations"]
    uow = UnitOfWork(app.state.db.session_factory, ADMIN, caches=caches)
    from backend.core.errors import Duplicate

    with pytest.raises(Duplicate):  # renaming onto another team's name rolls back
        uow.run(
            crud.update,
            teams,
            team["id"],
            {"name": other["name"]},
            ExpectedVersion('"1"', required=True),
        )
    assert caches.teams.describe()["invalidations"] == before
    assert caches.teams.get(team["id"]) is not None


@pytest.fixture
def redis_settings(settings: Settings) -> Settings:
    if not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one)")
    # Redis alone: PostgreSQL's channel would deliver the invalidation just as well.
    return settings.model_copy(update={"redis_url": REDIS_URL, "cache_listen": False})


def test_two_workers_see_each_others_invalidations_through_redis(
    redis_settings: Settings, admin_headers: dict[str, str]
) -> None:
    _assert_change_reaches_the_other_worker(redis_settings, admin_headers, "redis")


def _league_seen(client: TestClient, url: str, admin: dict[str, str], wanted: str) -> str:
    """The league `client` serves for the team, polled until `wanted` (or 3 s pass)."""
    deadline = time.monotonic() + 3
    seen = ""
    while time.monotonic() < deadline:
        seen = client.get(url, headers=admin).json()["league"]
        if seen == wanted:
            break
        time.sleep(0.02)
    return seen


def _assert_change_reaches_the_other_worker(
    settings: Settings, admin: dict[str, str], channel: str
) -> None:
    """Two app instances (two workers) on `channel`: B's change reaches A's warm cache."""
    from backend.api.app import create_app

    dbs = [create_database(settings) for _ in range(2)]
    try:
        with (
            TestClient(create_app(settings, dbs[0])) as a,
            TestClient(create_app(settings, dbs[1])) as b,
        ):
            assert _stats(a, admin)["invalidation"] == channel
            team = make_team(a, admin, league="Before")
            url = f"/v1/teams/{team['id']}"
            assert a.get(url, headers=admin).json()["league"] == "Before"  # A caches it
            assert a.get(url, headers=admin).json()["league"] == "Before"
            patched = b.patch(url, json={"league": "After"}, headers={**admin, "If-Match": '"1"'})
            assert patched.status_code == 200
            assert _league_seen(a, url, admin, "After") == "After"
    finally:
        for db in dbs:
            db.dispose()


def test_two_workers_see_each_others_invalidations_through_postgres(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    _assert_change_reaches_the_other_worker(settings, admin_headers, "postgres")


def test_a_change_made_in_plain_sql_is_announced_and_dropped_from_the_cache(
    app: Any, client: TestClient, admin_headers: dict[str, str], raw_engine: Any
) -> None:
    """Triggers announce every committed change, whoever made it: an operator's UPDATE in
    psql reaches the cache like the API's own writes. A rolled-back one announces nothing."""
    from sqlalchemy import text

    team = make_team(client, admin_headers, league="Before")
    url = f"/v1/teams/{team['id']}"
    assert client.get(url, headers=admin_headers).json()["league"] == "Before"  # cached
    with raw_engine.connect() as conn:
        conn.execute(text("UPDATE teams SET league = 'Rolled' WHERE id = :i"), {"i": team["id"]})
        conn.rollback()
    time.sleep(0.2)  # many heartbeats: an announcement would have been applied by now
    assert app.state.caches.teams.get(team["id"]) is not None  # still cached
    with raw_engine.begin() as conn:
        conn.execute(text("UPDATE teams SET league = 'After' WHERE id = :i"), {"i": team["id"]})
    assert _league_seen(client, url, admin_headers, "After") == "After"


def _wait_current(app: Any) -> None:
    deadline = time.monotonic() + 10
    while not app.state.caches.current:
        assert time.monotonic() < deadline, "the invalidation listener never became current"
        time.sleep(0.05)


@pytest.mark.parametrize("listening", [True, False])
def test_a_cached_team_outlives_the_ttl_only_while_the_listener_is_current(
    settings: Settings, admin_headers: dict[str, str], raw_engine: Any, listening: bool
) -> None:
    """With PostgreSQL's channel current, a cached team stays a hit past CACHE_TTL_S (no
    reload every 30 s of a long run) and still follows a change at once; without a listener
    the TTL bounds how old a served team can be."""
    from sqlalchemy import text

    from backend.api.app import create_app

    short = settings.model_copy(update={"cache_ttl_s": 0.3, "cache_listen": listening})
    db = create_database(short)
    try:
        app = create_app(short, db)
        with TestClient(app) as client:
            if listening:
                _wait_current(app)
            team = make_team(client, admin_headers, league="Before")
            url = f"/v1/teams/{team['id']}"
            assert client.get(url, headers=admin_headers).json()["league"] == "Before"
            time.sleep(0.6)  # past the TTL
            before = app.state.caches.teams.describe()
            assert client.get(url, headers=admin_headers).json()["league"] == "Before"
            after = app.state.caches.teams.describe()
            if listening:
                assert (after["hits"], after["misses"]) == (before["hits"] + 1, before["misses"])
                with raw_engine.begin() as conn:
                    conn.execute(
                        text("UPDATE teams SET league = 'After' WHERE id = :i"), {"i": team["id"]}
                    )
                assert _league_seen(client, url, admin_headers, "After") == "After"
            else:
                assert (after["hits"], after["misses"]) == (before["hits"], before["misses"] + 1)
    finally:
        db.dispose()


# -- cached pages of the reference lists ------------------------------------------------------


def _names(client: TestClient, admin: dict[str, str], league: str) -> list[str]:
    response = client.get("/v1/teams", params={"league": league}, headers=admin)
    assert response.status_code == 200
    return [t["name"] for t in response.json()["items"]]


def test_a_cached_team_page_follows_every_write_at_once(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    league = f"Paged {time.monotonic_ns()}"
    first = make_team(client, admin_headers, name=f"A {league}", league=league)
    assert _names(client, admin_headers, league) == [first["name"]]
    assert _names(client, admin_headers, league) == [first["name"]]  # from the page cache
    second = make_team(client, admin_headers, name=f"B {league}", league=league)
    assert _names(client, admin_headers, league) == [first["name"], second["name"]]  # created
    url = f"/v1/teams/{first['id']}"
    renamed = client.patch(
        url, json={"name": f"C {league}"}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert renamed.status_code == 200
    assert _names(client, admin_headers, league) == [second["name"], f"C {league}"]  # updated
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert _names(client, admin_headers, league) == [second["name"]]  # deleted
    stats = _stats(client, admin_headers)["caches"]["team_pages"]
    assert stats["hits"] >= 1 and stats["invalidations"] >= 3


def test_a_team_inserted_in_plain_sql_reaches_a_cached_page(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Any
) -> None:
    """Triggers announce inserts too (migration 0007): an operator's INSERT drops the pages."""
    from sqlalchemy import text

    league = f"Operator {time.monotonic_ns()}"
    make_team(client, admin_headers, name=f"A {league}", league=league)
    assert len(_names(client, admin_headers, league)) == 1  # cached now
    with raw_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO teams (name, league, created_by, updated_by) "
                "VALUES (:n, :l, 'psql', 'psql')"
            ),
            {"n": f"B {league}", "l": league},
        )
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(_names(client, admin_headers, league)) != 2:
        time.sleep(0.02)
    assert _names(client, admin_headers, league) == [f"A {league}", f"B {league}"]


def test_another_workers_new_bookmaker_reaches_a_cached_page(
    settings: Settings, admin_headers: dict[str, str]
) -> None:
    from backend.api.app import create_app

    dbs = [create_database(settings) for _ in range(2)]
    try:
        with (
            TestClient(create_app(settings, dbs[0])) as a,
            TestClient(create_app(settings, dbs[1])) as b,
        ):
            before = a.get("/v1/bookmakers", params={"limit": 500}, headers=admin_headers)
            names = {x["name"] for x in before.json()["items"]}
            made = b.post(
                "/v1/bookmakers",
                json={"name": f"Book {time.monotonic_ns()}"},
                headers=admin_headers,
            ).json()
            deadline, seen = time.monotonic() + 3, names
            while time.monotonic() < deadline and made["name"] not in seen:
                page = a.get("/v1/bookmakers", params={"limit": 500}, headers=admin_headers)
                seen = {x["name"] for x in page.json()["items"]}
                time.sleep(0.02)
            assert made["name"] in seen
    finally:
        for db in dbs:
            db.dispose()
