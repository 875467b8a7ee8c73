"""The worker's idle wait and its stop: announced work is picked up at once, not after the
poll interval; a stop lets the running job finish and gives back the rest of its batch."""

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
from tests.helpers import make_tenant
from tests.webhook_events import insert_events
from tests.webhook_receiver import receiver
from tests.worker_helpers import running_worker, wait_until


def _status(engine: Engine, ids: list[int]) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status, attempts FROM jobs WHERE id = ANY(:ids) ORDER BY id"),
            {"ids": ids},
        )
        return [(r.status, r.attempts) for r in rows]


def test_notify_wakes_an_idle_worker_long_before_its_poll_interval(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, settings: Settings
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    with receiver() as hook, running_worker(settings, job_poll_s=60.0):
        created = client.post("/v1/webhooks", json={"url": hook.url}, headers=headers).json()
        hook.secret = created["secret"]
        time.sleep(0.5)  # the worker is idle, waiting up to a minute
        started = time.monotonic()
        insert_events(raw_engine, tenant["id"])
        wait_until(lambda: len(hook.delivered) == 1, timeout=10)
        assert time.monotonic() - started < 5
    assert hook.delivered[0].verified


def test_stop_finishes_the_running_job_and_gives_back_the_rest(
    raw_engine: Engine, db: Database, settings: Settings
) -> None:
    kind = "test.stop"
    running = threading.Event()
    finished: list[int] = []

    def slow(uow: UnitOfWork, job: Any) -> None:
        running.set()
        time.sleep(1.0)
        finished.append(job.id)
        jobs.done(uow, job)

    uow = UnitOfWork(db.session_factory, system("test"))
    with running_worker(settings, job_batch=5, job_poll_s=60.0) as worker:
        worker.handlers[kind] = slow
        with uow:  # one transaction: the worker claims the three together
            ids = [uow.jobs.enqueue(kind, {}, priority=10) for _ in range(3)]
            uow.commit()
        assert running.wait(10)
        worker.stop()  # what SIGTERM does
    assert finished == ids[:1]
    # The first job done; the two claimed with it, never started, back in the queue with
    # their attempt not spent.
    assert _status(raw_engine, [i for i in ids if i is not None]) == [
        ("done", 1),
        ("queued", 0),
        ("queued", 0),
    ]
    with raw_engine.begin() as conn:  # not left for other tests' workers
        conn.execute(text("DELETE FROM jobs WHERE kind = :kind"), {"kind": kind})
