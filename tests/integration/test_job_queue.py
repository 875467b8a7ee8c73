"""The work queue on real PostgreSQL: claims are exclusive, leases expire, failures back off
and die. Each test queues jobs of a kind of its own and claims only that kind."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, text

from backend.core.database import Database
from backend.core.principal import system
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import jobs
from backend.services.jobs import backoff_ceiling, backoff_delay


def _uow(db: Database) -> UnitOfWork:
    return UnitOfWork(db.session_factory, system("queue-test"))


def _kind() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"


def _job(raw_engine: Engine, job_id: int) -> Any:
    with raw_engine.connect() as conn:
        return conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()


@pytest.mark.parametrize("round_", range(20))
def test_eight_concurrent_claimers_never_get_the_same_job(db: Database, round_: int) -> None:
    """20 races of 8 claimers over 40 jobs: each job is claimed, and finished, exactly once."""
    kind = _kind()
    ids = {jobs.enqueue(_uow(db), kind, {"n": i}) for i in range(40)}
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claimer(worker: str) -> None:
        start.wait()
        while True:
            batch = jobs.claim(_uow(db), worker, 3, 60, kinds=[kind])
            if not batch:
                return
            with lock:
                claimed.extend(j.id for j in batch)
            for job in batch:
                assert jobs.done(_uow(db), job)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(claimed)
    assert [job_id for job_id, n in counts.items() if n > 1] == []
    assert set(counts) == ids


def test_higher_priority_first_then_due_time(db: Database) -> None:
    kind = _kind()
    low = jobs.enqueue(_uow(db), kind, {}, priority=0)
    high = jobs.enqueue(_uow(db), kind, {}, priority=5)
    later = jobs.enqueue(_uow(db), kind, {}, priority=9, delay_s=3600)
    batch = jobs.claim(_uow(db), "w", 10, 60, kinds=[kind])
    assert [j.id for j in batch] == [high, low]  # the one not yet due is not claimed
    assert later is not None


def test_an_expired_lease_is_claimed_again_and_fences_the_old_worker(
    db: Database, raw_engine: Engine
) -> None:
    kind = _kind()
    job_id = jobs.enqueue(_uow(db), kind, {})
    (first,) = jobs.claim(_uow(db), "dead-worker", 1, 0.2, kinds=[kind])
    assert jobs.claim(_uow(db), "other", 1, 60, kinds=[kind]) == []  # leased
    time.sleep(0.3)
    (again,) = jobs.claim(_uow(db), "other", 1, 60, kinds=[kind])
    assert again.id == first.id == job_id
    assert again.attempts == 2
    assert not jobs.done(_uow(db), first)  # the worker that lost its lease changes nothing
    assert jobs.done(_uow(db), again)
    row = _job(raw_engine, job_id)
    assert (row.status, row.leased_by, row.finished_at is not None) == ("done", None, True)


def test_backoff_grows_with_full_jitter_and_is_capped() -> None:
    ceilings = [backoff_ceiling(a, 1.0, 60.0) for a in range(1, 9)]
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60]
    for attempt in range(1, 9):
        delays = [backoff_delay(attempt, 1.0, 60.0) for _ in range(200)]
        assert all(0 <= d <= ceilings[attempt - 1] for d in delays)
        assert max(delays) > ceilings[attempt - 1] / 2  # spread over the window, not fixed


def test_a_failing_job_is_retried_later_and_dead_after_max_attempts(
    db: Database, raw_engine: Engine
) -> None:
    kind = _kind()
    job_id = jobs.enqueue(_uow(db), kind, {}, max_attempts=3)
    run_ats = []
    for attempt in (1, 2, 3):
        deadline = time.monotonic() + 5
        batch = jobs.claim(_uow(db), "w", 1, 60, kinds=[kind])
        while not batch and time.monotonic() < deadline:
            time.sleep(0.02)
            batch = jobs.claim(_uow(db), "w", 1, 60, kinds=[kind])
        (job,) = batch
        assert job.attempts == attempt
        assert jobs.failed(_uow(db), job, f"boom {attempt}", 0.05, 1.0)
        row = _job(raw_engine, job_id)
        run_ats.append(row.run_at)
        if attempt < 3:
            assert (row.status, row.last_error) == ("queued", f"boom {attempt}")
    row = _job(raw_engine, job_id)
    assert (row.status, row.attempts, row.last_error) == ("dead", 3, "boom 3")
    assert row.finished_at is not None
    assert jobs.claim(_uow(db), "w", 1, 60, kinds=[kind]) == []


def test_one_live_job_per_unique_key(db: Database) -> None:
    kind = _kind()
    key = f"{kind}:singleton"
    first = jobs.enqueue(_uow(db), kind, {}, unique_key=key)
    assert first is not None
    assert jobs.enqueue(_uow(db), kind, {}, unique_key=key) is None
    (job,) = jobs.claim(_uow(db), "w", 1, 60, kinds=[kind])
    assert jobs.enqueue(_uow(db), kind, {}, unique_key=key) is None  # running still counts
    assert jobs.done(_uow(db), job)
    assert jobs.enqueue(_uow(db), kind, {}, unique_key=key) not in (None, first)
