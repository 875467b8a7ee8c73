"""The app behind a real PgBouncer in transaction mode (Debian's `pgbouncer`, started here on a
free loopback port as an unprivileged user), logging in as the superuser `postgres` with no
start-up options, as a deployment behind PgBouncer would: tenant isolation, 200 concurrent
bets, idempotent replays, and no more server connections than PgBouncer's pool.

Skipped where `pgbouncer` is not installed (`apt-get install pgbouncer`; CI installs it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from backend.core.config import Settings
from backend.core.database import create_database
from tests.helpers import (
    assert_problem,
    bet_body,
    count_rows,
    free_port,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)
pytestmark = pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed")
SERVER_POOL = 4  # PgBouncer's server connections to the database
SYSTEM_USER = "oddsdesk_pgbouncer"


def _system_user() -> str | None:
    """PgBouncer refuses to run as root: an unprivileged system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


@pytest.fixture(scope="module")
def bouncer(database_url: URL) -> Iterator[URL]:
    """PgBouncer in transaction mode in front of the test database; its URL."""
    assert PGBOUNCER is not None
    port, user = free_port(), _system_user()
    workdir = Path(tempfile.mkdtemp(prefix="oddsdesk-pgbouncer-"))
    (workdir / "userlist.txt").write_text('"postgres" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
{database_url.database} = host={database_url.host} port={database_url.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir}/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = {SERVER_POOL}
max_client_conn = 500
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
"""
    )
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    # PgBouncer logs every login to stderr as well as to its logfile: stderr goes to a file,
    # never to a pipe nobody drains (a full pipe blocks PgBouncer, and every client behind it).
    with (workdir / "stderr.log").open("wb") as stderr:  # PgBouncer keeps its own copy
        process = subprocess.Popen(
            [PGBOUNCER, str(workdir / "pgbouncer.ini")],
            user=user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = (workdir / "stderr.log").read_text(errors="replace")
                    raise RuntimeError(f"pgbouncer did not start: {err}") from None
                time.sleep(0.1)
        yield database_url.set(host="127.0.0.1", port=port)
    finally:
        process.terminate()  # the process we started, by its PID
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def behind(bouncer: URL, settings: Settings) -> Iterator[TestClient]:
    """The app as a deployment behind PgBouncer runs it (README, Past one machine)."""
    from backend.api.app import create_app

    own = settings.model_copy(
        update={
            "database_url": SecretStr(bouncer.render_as_string(hide_password=False)),
            "db_startup_options": False,
            "db_prepared_statements": False,
            "cache_listen": False,
            "events_listen": False,
            "db_pool_size": 10,
            "db_max_overflow": 0,
        }
    )
    db = create_database(own)
    try:
        with TestClient(create_app(own, db), raise_server_exceptions=False) as client:
            yield client
    finally:
        db.dispose()


def _server_connections(bouncer: URL) -> int:
    """Server connections PgBouncer holds to the database (its admin console's SHOW POOLS)."""
    conn = psycopg2.connect(
        host="127.0.0.1", port=bouncer.port, user="postgres", dbname="pgbouncer"
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW POOLS")
            names = [d.name for d in cur.description]
            total = 0
            for row in cur.fetchall():
                pool = dict(zip(names, row, strict=True))
                if pool["database"] == bouncer.database:
                    total += sum(int(pool[k]) for k in names if k.startswith("sv_"))
            return total
    finally:
        conn.close()


def test_tenants_stay_isolated_behind_pgbouncer(
    behind: TestClient, admin_headers: dict[str, str]
) -> None:
    (_, a), (_, b) = make_tenant(behind, admin_headers), make_tenant(behind, admin_headers)
    strategy = make_strategy(behind, a)
    assert behind.get(f"/v1/strategies/{strategy['id']}", headers=b).status_code == 404
    assert behind.get("/v1/strategies", headers=b).json()["items"] == []
    listed = behind.get("/v1/strategies", headers=a).json()["items"]
    assert [s["id"] for s in listed] == [strategy["id"]]
    assert behind.get("/v1/audit", headers=b).json()["items"] == []


@pytest.mark.parametrize("round_", range(20))
def test_two_hundred_concurrent_bets_behind_pgbouncer_conserve_money(
    behind: TestClient, admin_headers: dict[str, str], raw_engine: Engine, bouncer: URL, round_: int
) -> None:
    """20 races, each of 200 bets of 10.00 from 16 threads on a 1,000.00 bankroll: every time
    exactly 100 are placed, the bankroll ends at 0.00, each placed bet has its audit entry and
    its event, every refusal is a 409, nothing fails, and PgBouncer never holds more than its
    pool."""
    _, fund = make_tenant(behind, admin_headers)
    match = make_match(behind, admin_headers, kickoff_at="2031-07-01T15:00:00Z")
    book = make_bookmaker(behind, admin_headers)
    strategy = make_strategy(behind, fund, bankroll="1000.00", max_stake="10.00")
    body = bet_body(strategy["id"], match["id"], book["id"], stake="10.00")
    peak, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _server_connections(bouncer))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(
                pool.map(
                    lambda _: behind.post("/v1/bets", json=body, headers=idem(fund)).status_code,
                    range(200),
                )
            )
    finally:
        stop.set()
        watcher.join()
    assert sorted(set(statuses)) == [201, 409], statuses
    assert statuses.count(201) == 100
    got = behind.get(f"/v1/strategies/{strategy['id']}", headers=fund).json()
    assert Decimal(got["bankroll"]) == Decimal("0.00")
    bets = count_rows(
        raw_engine, "SELECT count(*) FROM bets WHERE strategy_id = :s", s=strategy["id"]
    )
    assert bets == 100
    audited = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE entity_type = 'bet' AND entity_id IN "
        "(SELECT id::text FROM bets WHERE strategy_id = :s)",
        s=strategy["id"],
    )
    events = count_rows(
        raw_engine,
        "SELECT count(*) FROM events WHERE type = 'bet.placed' AND payload->>'strategy_id' = :s",
        s=strategy["id"],
    )
    assert (audited, events) == (100, 100)
    assert 0 < peak[0] <= SERVER_POOL


def test_idempotent_replays_and_the_transaction_role_behind_pgbouncer(
    behind: TestClient, admin_headers: dict[str, str], bouncer: URL
) -> None:
    _, fund = make_tenant(behind, admin_headers)
    match = make_match(behind, admin_headers, kickoff_at="2031-07-02T15:00:00Z")
    book = make_bookmaker(behind, admin_headers)
    strategy = make_strategy(behind, fund)
    body = bet_body(strategy["id"], match["id"], book["id"])
    first = behind.post("/v1/bets", json=body, headers=idem(fund, "bouncer-key"))
    again = behind.post("/v1/bets", json=body, headers=idem(fund, "bouncer-key"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    other = behind.post(
        "/v1/bets", json={**body, "stake": "11.00"}, headers=idem(fund, "bouncer-key")
    )
    assert_problem(other, 422, "idempotency-key-reused")
    # A plain connection through PgBouncer is the login superuser; the app's transactions run
    # as its role all the same (SET LOCAL ROLE), which is why isolation held above.
    conn = psycopg2.connect(
        host="127.0.0.1", port=bouncer.port, user="postgres", dbname=bouncer.database
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_setting('is_superuser')")
            assert cur.fetchone() == ("postgres", "on")
    finally:
        conn.close()


def test_a_pgbouncer_refusing_start_up_options_refuses_the_default_settings(
    bouncer: URL, settings: Settings
) -> None:
    """Why DB_STARTUP_OPTIONS=false exists: PgBouncer refuses the libpq `options` parameter
    the default settings send."""
    own: Any = settings.model_copy(
        update={"database_url": SecretStr(bouncer.render_as_string(hide_password=False))}
    )
    db = create_database(own)
    try:
        with (
            pytest.raises(Exception, match="unsupported startup parameter"),
            db.engine.connect() as conn,
        ):
            conn.execute(text("SELECT 1"))
    finally:
        db.dispose()
