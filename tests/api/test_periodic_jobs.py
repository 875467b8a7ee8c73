"""Periodic jobs and the other job kinds the worker runs: scheduled once however many
workers ask, run when due, queued again for their next run."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.core.config import Settings
from backend.core.database import Database
from backend.core.principal import system
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import jobs
from backend.services.worker import ANALYTICS, LEADERBOARD, PURGE, schedule_periodic
from tests.helpers import make_tenant
from tests.worker_helpers import running_worker, wait_until


def _jobs(engine: Engine, kind: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT status, attempts, repeat_s, run_at - now() AS due_in, finished_at "
                    "FROM jobs WHERE kind = :kind ORDER BY id"
                ),
                {"kind": kind},
            )
        )


def test_expired_idempotency_records_are_purged_by_one_periodic_job(
    client: TestClient,
    admin_headers: dict[str, str],
    raw_engine: Engine,
    db: Database,
    settings: Settings,
) -> None:
    tenant, _ = make_tenant(client, admin_headers)
    with raw_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, "
                "response_body, created_at, expires_at) VALUES (:t, 'old', 'f', 201, '{}', "
                "now() - interval '2 days', now() - interval '1 day'), (:t, 'live', 'f', 201, "
                "'{}', now(), now() + interval '1 day')"
            ),
            {"t": tenant["id"]},
        )
    # Eight workers scheduling at once: one live job.
    start = threading.Barrier(8)

    def schedule() -> None:
        start.wait()
        schedule_periodic(UnitOfWork(db.session_factory, system("test")), {PURGE: 3600})

    threads = [threading.Thread(target=schedule) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(_jobs(raw_engine, PURGE)) == 1

    def keys() -> list[str]:
        with raw_engine.connect() as conn:
            rows = conn.execute(
                text("SELECT key FROM idempotency_keys WHERE tenant_id = :t ORDER BY key"),
                {"t": tenant["id"]},
            )
            return [r.key for r in rows]

    with running_worker(settings, idempotency_purge_every_s=3600):
        # The purge and its re-queue: one commit. A worker started late in the suite first
        # fans out every event the earlier tests left and runs their deliveries (priority 0,
        # before the periodic jobs' -1): on a loaded machine that took over 15 s in CI.
        wait_until(lambda: keys() == ["live"], timeout=90)
    (job,) = _jobs(raw_engine, PURGE)  # still one: queued again for an hour later
    assert (job.status, job.repeat_s) == ("queued", 3600)
    assert 3500 < job.due_in.total_seconds() <= 3600


def test_leaderboard_and_analytics_jobs_run_to_done(
    raw_engine: Engine, db: Database, settings: Settings
) -> None:
    uow = UnitOfWork(db.session_factory, system("test"))
    leaderboard = jobs.enqueue(uow, LEADERBOARD, {})
    analytics = jobs.enqueue(uow, ANALYTICS, {})
    with running_worker(settings):

        def finished() -> bool:
            with raw_engine.connect() as conn:
                return (
                    conn.execute(
                        text("SELECT count(*) FROM jobs WHERE id IN (:a, :b) AND status = 'done'"),
                        {"a": leaderboard, "b": analytics},
                    ).scalar()
                    == 2
                )

        wait_until(finished, 60)
    with raw_engine.connect() as conn:
        errors = conn.execute(
            text("SELECT last_error FROM jobs WHERE id IN (:a, :b)"),
            {"a": leaderboard, "b": analytics},
        ).all()
    assert [e.last_error for e in errors] == [None, None]


def test_a_job_of_a_kind_the_worker_does_not_know_waits_for_one_that_does(
    raw_engine: Engine, db: Database, settings: Settings
) -> None:
    """As in a rolling deploy, where a newer release enqueues a kind older workers lack: they
    leave it queued, its attempts unspent, and a worker that knows the kind runs it."""
    uow = UnitOfWork(db.session_factory, system("test"))
    kind = "test.newer.kind"
    job_id = jobs.enqueue(uow, kind, {}, max_attempts=3)
    ran: list[int] = []

    def newer(uow: UnitOfWork, job: Any) -> None:
        ran.append(job.id)
        jobs.done(uow, job)

    with running_worker(settings) as worker:
        time.sleep(1.5)  # many rounds of claiming
        with raw_engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()
        assert (row.status, row.attempts) == ("queued", 0)
        worker.handlers[kind] = newer  # now it knows the kind
        wait_until(lambda: ran == [job_id])
    with raw_engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()
    assert (row.status, row.attempts) == ("done", 1)


def test_a_job_longer_than_its_lease_keeps_it_while_it_runs(
    raw_engine: Engine, db: Database, settings: Settings
) -> None:
    kind = "test.slow"
    ran: list[int] = []

    def slow(uow: UnitOfWork, job: Any) -> None:
        time.sleep(2.0)  # more than three leases
        ran.append(job.id)
        jobs.done(uow, job)

    with running_worker(settings, job_lease_s=0.6, webhook_timeout_s=0.5) as worker:
        worker.handlers[kind] = slow
        job_id = jobs.enqueue(UnitOfWork(db.session_factory, system("test")), kind, {})
        wait_until(lambda: _jobs(raw_engine, kind)[-1].status == "running")
        stolen = []
        while not ran:
            other = UnitOfWork(db.session_factory, system("test"))
            stolen += jobs.claim(other, "thief", 1, 60, kinds=[kind])
            time.sleep(0.05)
    assert stolen == []
    assert ran == [job_id]
    with raw_engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()
    assert (row.status, row.attempts) == ("done", 1)


def test_finished_jobs_past_their_retention_are_deleted(
    raw_engine: Engine, db: Database, settings: Settings
) -> None:
    kind = "test.retention"
    uow = UnitOfWork(db.session_factory, system("test"))
    old, recent, waiting = (jobs.enqueue(uow, kind, {}) for _ in range(3))
    with raw_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE jobs SET status = 'done', finished_at = now() - interval '2 days' "
                "WHERE id = :old; UPDATE jobs SET status = 'dead', finished_at = now() "
                "WHERE id = :recent; UPDATE jobs SET run_at = now() + interval '1 day' "
                "WHERE id = :waiting; "
                # Its hour has come (a worker of an earlier test may have scheduled it).
                "UPDATE jobs SET run_at = now() WHERE kind = 'jobs.purge' AND status = 'queued'"
            ),
            {"old": old, "recent": recent, "waiting": waiting},
        )
    with running_worker(settings, job_retention_s=86_400):
        wait_until(lambda: len(_jobs(raw_engine, kind)) == 2)
    assert [j.status for j in _jobs(raw_engine, kind)] == ["dead", "queued"]
    (purge,) = _jobs(raw_engine, "jobs.purge")
    assert (purge.status, purge.repeat_s) == ("queued", 3600)
