"""Reads from a real streaming replica: a private primary cluster and a replica built from it
with `pg_basebackup -R` (both started here as an unprivileged user on free loopback ports).
Reads go to the replica, a principal's reads after its own write come from the primary until
the replica has replayed it, and a lost replica sends every read to the primary."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from backend.core.config import Settings
from backend.core.database import Database, create_database
from backend.scripts import localdb, migrate
from benchmarks.pg import PrivateCluster
from tests.conftest import ADMIN_KEY
from tests.helpers import (
    REDIS_URL,
    free_port,
    make_match,
    make_strategy,
    make_team,
    make_tenant,
    redis_up,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
DB = "oddsdesk_replica"


class Replica:
    """A hot standby of `primary`, from pg_basebackup, until stopped."""

    def __init__(self, primary: PrivateCluster) -> None:
        assert primary.data_dir is not None
        self.primary = primary
        self.pgdata = primary.data_dir / "replica"
        self.port = free_port()
        source = ["-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"]
        primary.run(
            "pg_basebackup",
            [*source, "-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast", "--no-sync"],
        )
        self.start()

    def start(self) -> None:
        # A standby needs at least the primary's max_connections (and the like).
        same = " ".join(f"-c {k}={v}" for k, v in self.primary.settings.items())
        options = f"-p {self.port} -k {self.primary.data_dir} {same}"
        log = str(self.pgdata.parent / "replica.log")
        try:
            self.primary.run(
                "pg_ctl", ["-D", str(self.pgdata), "-l", log, "-o", options, "-w", "start"]
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\nreplica log:\n{Path(log).read_text()[-3000:]}") from None

    def stop(self, mode: str = "fast") -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self.primary.run("pg_ctl", ["-D", str(self.pgdata), "-m", mode, "-w", "stop"])

    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DB}"

    def sql(self, statement: str) -> Any:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=DB)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchone()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[PrivateCluster, Replica]]:
    primary = PrivateCluster({"autovacuum": "on", "wal_level": "replica"})
    try:
        primary.start()
        localdb.ensure_database(primary.url(), DB)
        migrate.upgrade(localdb.with_database(primary.url(), DB))
        replica = Replica(primary)
        try:
            yield primary, replica
        finally:
            replica.stop("immediate")
    finally:
        primary.stop()


@pytest.fixture(scope="module")
def stack(
    cluster: tuple[PrivateCluster, Replica], settings: Settings
) -> Iterator[tuple[TestClient, Database, Replica]]:
    from backend.api.app import create_app

    primary, replica = cluster
    own = settings.model_copy(
        update={
            "database_url": SecretStr(primary.url(DB)),
            "database_replica_url": SecretStr(replica.url()),
            "replica_poll_ms": 50,
        }
    )
    db = create_database(own)
    try:
        with TestClient(create_app(own, db), raise_server_exceptions=False) as client:
            assert db.replica is not None
            _until(lambda: db.replica is not None and db.replica.healthy)
            yield client, db, replica
    finally:
        db.dispose()


def _until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _strategy_names(client: TestClient, headers: dict[str, str]) -> list[str]:
    response = client.get("/v1/strategies", headers=headers)
    assert response.status_code == 200, response.text
    return [s["name"] for s in response.json()["items"]]


def test_reads_go_to_the_replica_and_a_principals_own_writes_to_the_primary(
    stack: tuple[TestClient, Database, Replica],
) -> None:
    client, db, replica = stack
    router = db.replica
    assert router is not None
    (tenant, fund), (_, other) = make_tenant(client, ADMIN), make_tenant(client, ADMIN)
    first = make_strategy(client, fund)
    _until(lambda: router.serves(tenant["id"]))  # the replica has replayed that write
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        second = make_strategy(client, fund)  # committed on the primary, not replayed
        # Its author reads it at once: from the primary, since the replica lags its write.
        assert _strategy_names(client, fund) == [first["name"], second["name"]]
        assert not router.serves(tenant["id"])
        # Another principal reads from the replica, as it stood when replay paused: a match
        # the admin created just now is not there yet.
        match = make_match(client, ADMIN, kickoff_at="2031-08-01T15:00:00Z")
        seen = client.get(f"/v1/matches/{match['id']}", headers=other)
        assert seen.status_code == 404  # the replica has not replayed it
        # The admin, who wrote it, reads it (from the primary).
        assert client.get(f"/v1/matches/{match['id']}", headers=ADMIN).status_code == 200
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
    _until(lambda: router.serves(tenant["id"]))
    assert client.get(f"/v1/matches/{match['id']}", headers=other).status_code == 200
    assert _strategy_names(client, fund) == [first["name"], second["name"]]


def test_a_lost_replica_sends_every_read_to_the_primary_and_comes_back(
    stack: tuple[TestClient, Database, Replica],
) -> None:
    client, db, replica = stack
    router = db.replica
    assert router is not None
    _, fund = make_tenant(client, ADMIN)
    made = make_strategy(client, fund)
    team = make_team(client, ADMIN)
    _until(lambda: router.healthy and router.serves("admin"))
    assert client.get(f"/v1/strategies/{made['id']}", headers=fund).status_code == 200
    replica.stop("immediate")
    try:
        # At once, before the router's poller notices: the read that hits the dead replica
        # is retried on the primary, and every read after it goes there.
        for _ in range(5):
            response = client.get(f"/v1/strategies/{made['id']}", headers=fund)
            assert response.status_code == 200, response.text
            assert client.get(f"/v1/teams/{team['id']}", headers=fund).status_code == 200
        _until(lambda: not router.healthy)
        newer = make_strategy(client, fund)
        assert client.get(f"/v1/strategies/{newer['id']}", headers=fund).status_code == 200
    finally:
        replica.start()
    _until(lambda: router.healthy)  # back: reads may go to it again
    assert client.get(f"/v1/strategies/{made['id']}", headers=fund).status_code == 200


def test_the_replica_is_a_real_standby(stack: tuple[TestClient, Database, Replica]) -> None:
    _, _, replica = stack
    assert replica.sql("SELECT pg_is_in_recovery()") == (True,)
    assert Path(replica.pgdata / "standby.signal").exists()
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        replica.sql("CREATE TABLE nope (id int)")


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379 (CI has one)")
def test_with_redis_a_write_on_one_worker_keeps_the_writers_reads_on_the_primary_everywhere(
    cluster: tuple[PrivateCluster, Replica], settings: Settings
) -> None:
    """Two app instances (two workers) on one primary and its replica, sharing Redis: a write
    answered by worker A keeps its principal's reads on the primary on worker B too, until the
    replica has replayed it. Without Redis, B knows only its own writes (the third instance)."""
    from backend.api.app import create_app

    primary, replica = cluster
    base = {
        "database_url": SecretStr(primary.url(DB)),
        "database_replica_url": SecretStr(replica.url()),
        "replica_poll_ms": 50,
    }
    shared = settings.model_copy(update={**base, "redis_url": REDIS_URL})
    alone = settings.model_copy(update={**base, "redis_url": None})
    dbs = [create_database(shared), create_database(shared), create_database(alone)]
    try:
        with (
            TestClient(create_app(shared, dbs[0]), raise_server_exceptions=False) as a,
            TestClient(create_app(shared, dbs[1]), raise_server_exceptions=False) as b,
        ):
            routers = [d.replica for d in dbs]
            assert all(r is not None for r in routers)
            _until(lambda: all(r is not None and r.healthy for r in routers))
            tenant, fund = make_tenant(a, ADMIN)
            first = make_strategy(a, fund)
            _until(lambda: all(r is not None and r.serves(tenant["id"]) for r in routers))
            replica.sql("SELECT pg_wal_replay_pause()")
            try:
                second = make_strategy(a, fund)  # through worker A, not replayed
                # Worker B never saw that write, yet reads it: from the primary.
                assert _strategy_names(b, fund) == [first["name"], second["name"]]
                assert routers[1] is not None and not routers[1].serves(tenant["id"])
                # An instance without Redis would read from the lagging replica.
                assert routers[2] is not None and routers[2].serves(tenant["id"])
            finally:
                replica.sql("SELECT pg_wal_replay_resume()")
            _until(lambda: routers[1] is not None and routers[1].serves(tenant["id"]))
            assert _strategy_names(b, fund) == [first["name"], second["name"]]
            # A write whose position A could not read pins the principal to the primary on
            # every worker, for the pin's time only: a later write does not prolong it.
            assert routers[0] is not None and routers[1] is not None
            routers[0].pin(tenant["id"], 1.0)
            assert not routers[1].serves(tenant["id"])
            make_strategy(a, fund)
            _until(lambda: routers[1] is not None and routers[1].serves(tenant["id"]), 5)
    finally:
        for d in dbs:
            d.dispose()
