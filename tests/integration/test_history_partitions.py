"""The partitioned history (migration 0015, core/history.py): odds snapshots and audit rows in
yearly partitions made by the app itself (an odds batch for its rows' years, the worker's job
ahead of time), append-only in every partition, pruned by latest-as-of reads, retired whole by
the retention command, and a missing partition answered 503 until the job makes it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from backend.core.config import Settings
from backend.models import Base
from backend.repositories.odds import LATEST_SQL
from backend.scripts import retention
from backend.services.introspection import compare
from backend.services.worker import PARTITIONS
from tests.helpers import assert_problem, make_bookmaker, make_match, unique
from tests.worker_helpers import running_worker, wait_until

APP_ROLE = "oddsdesk_app"


def _partitions(raw_engine: Engine, table: str) -> set[str]:
    with raw_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:t AS regclass)"
            ),
            {"t": table},
        )
        return {r[0] for r in rows}


def _snapshot(match: int, book: int, at: str, price: str = "2.000") -> dict[str, Any]:
    return {
        "match_id": match,
        "bookmaker_id": book,
        "market": "1x2",
        "selection": "home",
        "price": price,
        "captured_at": at,
    }


def _where(raw_engine: Engine, match: int) -> list[tuple[str, str]]:
    """(partition, captured_at) of each of the match's snapshots."""
    with raw_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tableoid::regclass::text, to_char(captured_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD') FROM odds_snapshots WHERE match_id = :m ORDER BY captured_at"
            ),
            {"m": match},
        )
        return [(r[0], r[1]) for r in rows]


def test_both_tables_are_partitioned_by_year_and_partitions_are_reached_through_them(
    raw_engine: Engine,
) -> None:
    year = datetime.now(UTC).year
    with raw_engine.connect() as conn:
        keys = dict(
            conn.execute(
                text(
                    "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_class c "
                    "WHERE c.relname IN ('odds_snapshots', 'audit_log')"
                )
            ).all()
        )
        assert keys == {"odds_snapshots": "RANGE (captured_at)", "audit_log": "RANGE (occurred_at)"}
        for table in ("odds_snapshots", "audit_log"):
            made = _partitions(raw_engine, table)
            assert {f"{table}_y{year}", f"{table}_y{year + 1}"} <= made  # made ahead
            # The app role reads and writes the parent (row-level security applies there),
            # never a partition directly.
            can = "SELECT has_table_privilege(:role, :t, 'SELECT')"
            assert conn.execute(text(can), {"role": APP_ROLE, "t": table}).scalar() is True
            partition = f"{table}_y{year}"
            assert conn.execute(text(can), {"role": APP_ROLE, "t": partition}).scalar() is False


def test_an_odds_batch_makes_the_partitions_of_its_years_and_only_when_it_is_stored(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    match = make_match(client, admin_headers, kickoff_at="2011-08-13T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    # A refused batch (one bad price) stores nothing and makes no partition.
    bad = [_snapshot(match["id"], book["id"], "2012-03-01T12:00:00Z", price="0.5")]
    assert_problem(
        client.post("/v1/odds/batch", json={"snapshots": bad}, headers=admin_headers), 422
    )
    assert "odds_snapshots_y2012" not in _partitions(raw_engine, "odds_snapshots")
    rows = [
        _snapshot(match["id"], book["id"], "1998-05-01T12:00:00Z", "2.100"),
        _snapshot(match["id"], book["id"], "2011-08-12T12:00:00Z", "2.200"),
        _snapshot(match["id"], book["id"], "2011-08-13T14:00:00Z", "2.300"),
    ]
    stored = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    assert stored.json() == {"received": 3, "inserted": 3, "duplicates": 0}, stored.text
    assert _where(raw_engine, match["id"]) == [
        ("odds_snapshots_before_2000", "1998-05-01"),
        ("odds_snapshots_y2011", "2011-08-12"),
        ("odds_snapshots_y2011", "2011-08-13"),
    ]
    closing = client.get(f"/v1/matches/{match['id']}/closing-odds", headers=admin_headers)
    assert [o["price"] for o in closing.json()["items"]] == ["2.300"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE odds_snapshots SET price = price WHERE captured_at < '2000-01-01'",
        "DELETE FROM odds_snapshots_before_2000",
        "UPDATE audit_log_y{year} SET actor = 'x'",
        "DELETE FROM audit_log WHERE occurred_at >= '{year}-01-01'",
        "TRUNCATE odds_snapshots_before_2000",
        "TRUNCATE audit_log_y{year}",
        "TRUNCATE audit_log",
    ],
)
def test_every_partition_stays_append_only_even_for_the_owner(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, statement: str
) -> None:
    match = make_match(client, admin_headers, kickoff_at="2031-08-13T15:00:00Z")
    book = make_bookmaker(client, admin_headers)  # an audit row of this year, too
    old = [_snapshot(match["id"], book["id"], "1999-05-01T12:00:00Z")]
    assert client.post("/v1/odds/batch", json={"snapshots": old}, headers=admin_headers).is_success
    with raw_engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text(statement.format(year=datetime.now(UTC).year)))


def test_a_latest_as_of_read_skips_the_partitions_after_its_moment(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    match = make_match(client, admin_headers, kickoff_at="2011-09-10T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    rows = [
        _snapshot(match["id"], book["id"], "2011-09-09T12:00:00Z"),
        _snapshot(match["id"], book["id"], f"{datetime.now(UTC).year}-01-01T00:00:00Z"),
    ]
    assert client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers).is_success
    raw = raw_engine.raw_connection()
    try:
        with raw.cursor() as cur:
            # The statement the app runs (repositories/odds.py), as its prepared statement
            # runs it: on its generic plan, pruned when it runs.
            cur.execute("SET plan_cache_mode = force_generic_plan")
            plan_sql = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + LATEST_SQL.text
            for at, scanned in (("2011-12-31T00:00:00Z", "y2011"), (None, "y2011")):
                cur.execute(plan_sql, {"match": match["id"], "at": at})
                plan = "\n".join(r[0] for r in cur.fetchall())
                executed = [
                    line
                    for line in plan.splitlines()
                    if "on odds_snapshots_" in line and "never executed" not in line
                ]
                names = {line.split("on odds_snapshots_")[1].split()[0] for line in executed}
                # At 2011's end (and at the kickoff, the closing line), only 2011 and earlier
                # partitions are read; this year's is pruned.
                assert scanned in names, plan
                year = datetime.now(UTC).year
                assert f"y{year}" not in names and f"y{year + 1}" not in names, plan
    finally:
        raw.close()


def test_a_missing_audit_partition_answers_503_and_the_workers_job_makes_it(
    client: TestClient,
    admin_headers: dict[str, str],
    raw_engine: Engine,
    settings: Settings,
) -> None:
    """The service's writes need this year's audit partition; with it gone, a write is a 503
    that stores nothing, and once a worker has run its periodic partitions job, writes
    succeed again. (The test puts the year's rows back as they were.)"""
    year = datetime.now(UTC).year
    current = f"audit_log_y{year}"
    with raw_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ALTER TABLE audit_log DETACH PARTITION {current} CONCURRENTLY"))
        conn.execute(text(f"ALTER TABLE {current} RENAME TO {current}_aside"))
        # The job runs hourly: a worker starting now schedules it due at once.
        conn.execute(text("DELETE FROM jobs WHERE kind = :k"), {"k": PARTITIONS})
        try:
            name = unique("Partitioned")
            refused = client.post("/v1/teams", json={"name": name}, headers=admin_headers)
            body = assert_problem(refused, 503, "database-unavailable")
            assert "partition" in body["detail"] and refused.headers["retry-after"]
            stored = "SELECT count(*) FROM teams WHERE name = :n"
            assert conn.execute(text(stored), {"n": name}).scalar_one() == 0
            with running_worker(settings):
                wait_until(lambda: current in _partitions(raw_engine, "audit_log"))
            made = client.post("/v1/teams", json={"name": name}, headers=admin_headers)
            assert made.status_code == 201, made.text
        finally:
            # Back as it was: this year's rows in one partition, under its name.
            if current in _partitions(raw_engine, "audit_log"):
                conn.execute(text(f"ALTER TABLE audit_log DETACH PARTITION {current}"))
                moved = f"INSERT INTO audit_log SELECT * FROM {current}"
            else:
                moved = ""
            conn.execute(
                text(
                    f"ALTER TABLE audit_log ATTACH PARTITION {current}_aside FOR VALUES FROM "
                    f"('{year}-01-01 00:00Z') TO ('{year + 1}-01-01 00:00Z')"
                )
            )
            if moved:
                conn.execute(text(moved))
                conn.execute(text(f"DROP TABLE {current}"))
            conn.execute(text(f"ALTER TABLE {current}_aside RENAME TO {current}"))


def test_retention_takes_whole_old_years_out_and_keeps_them_aside(
    client: TestClient,
    admin_headers: dict[str, str],
    raw_engine: Engine,
    database_url: URL,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url.render_as_string(hide_password=False))
    match = make_match(client, admin_headers, kickoff_at="2013-08-13T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    rows = [
        _snapshot(match["id"], book["id"], "1997-05-01T12:00:00Z"),
        _snapshot(match["id"], book["id"], "2013-08-12T12:00:00Z"),
    ]
    assert client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers).is_success
    # Without --yes it only says what it would do.
    argv = ["detach", "--table", "odds_snapshots", "--before", "2000"]
    assert retention.main(argv) == 0
    assert "would detach odds_snapshots_before_2000" in capsys.readouterr().out
    assert len(_where(raw_engine, match["id"])) == 2
    assert retention.main([*argv, "--yes"]) == 0
    kept = capsys.readouterr().out.split("kept as ")[1].strip()
    assert [w[1] for w in _where(raw_engine, match["id"])] == ["2013-08-12"]
    with raw_engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {kept}")).scalar_one() >= 1
        # The schema check knows partitions and kept ones are not undeclared tables.
        assert compare(conn, Base.metadata, ["public", "analytics"]) == []
    # The year can take rows again: a fresh partition is made for them.
    again = [_snapshot(match["id"], book["id"], "1997-05-01T12:00:00Z")]
    stored = client.post("/v1/odds/batch", json={"snapshots": again}, headers=admin_headers)
    assert stored.json()["inserted"] == 1
    with raw_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE odds_snapshots_y2013"))
    assert retention.main(["list", "--table", "odds_snapshots"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "odds_snapshots_before_2000" in listed
    # Row counts are PostgreSQL's estimates, said to be missing until it has analyzed one.
    assert "before 2014-01-01" in listed["odds_snapshots_y2013"]
    assert "~1 rows" in listed["odds_snapshots_y2013"], listed


def test_history_pages_walk_across_years_and_equal_moments_without_losing_a_row(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """A cursor's page is bounded by its first key too (what prunes the years before it):
    rows sharing a moment with the cursor, and rows in the next year's partition, all come."""
    match = make_match(client, admin_headers, kickoff_at="2012-01-01T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    rows = [
        {**_snapshot(match["id"], book["id"], at), "selection": selection}
        for at in ("1999-12-31T23:00:00Z", "2011-12-31T23:59:00Z", "2012-01-01T14:00:00Z")
        for selection in ("home", "draw", "away")
    ]
    assert client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers).is_success
    url = f"/v1/matches/{match['id']}/odds/history"
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params, headers=admin_headers).json()
        seen += [(o["captured_at"], o["selection"]) for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 9 and len(set(seen)) == 9
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)


@pytest.mark.parametrize("round_", range(20))
def test_eight_batches_racing_into_a_year_without_a_partition_make_it_once_and_store_all(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, round_: int
) -> None:
    """20 races, each of 8 odds batches of one year that has no partition yet: every batch
    is stored whole (no 5xx), the year gets exactly one partition, and every row is in it."""
    year = 2005
    child = f"odds_snapshots_y{year}"
    with raw_engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {child}"))  # the previous round's
    match = make_match(client, admin_headers, kickoff_at=f"{year}-06-01T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    start = threading.Barrier(8)

    def batch(i: int) -> int:
        rows = [
            _snapshot(match["id"], book["id"], f"{year}-05-{1 + i:02d}T{h:02d}:00:00Z")
            for h in range(10)
        ]
        start.wait()
        response = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
        assert response.status_code == 200, response.text
        return int(response.json()["inserted"])

    with ThreadPoolExecutor(8) as pool:
        inserted = list(pool.map(batch, range(8)))
    assert inserted == [10] * 8
    assert f"odds_snapshots_y{year}" in _partitions(raw_engine, "odds_snapshots")
    places = _where(raw_engine, match["id"])
    assert len(places) == 80 and {p for p, _ in places} == {child}
