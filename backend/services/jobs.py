"""Work-queue use cases: enqueue, claim, finish; the backoff between attempts."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from backend.repositories.jobs import ClaimedJob
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case

ERROR_CHARS = 2000  # of a failure's message kept in last_error


def backoff_ceiling(attempt: int, base_s: float, max_s: float) -> float:
    """The longest wait after failed attempt `attempt` (1-based): base * 2**(attempt - 1),
    capped at max_s."""
    return float(min(max_s, base_s * 2 ** min(attempt - 1, 62)))


def backoff_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Full jitter: a uniformly random wait in [0, backoff_ceiling], so failing jobs (and
    the receivers they hit) are not retried in lockstep."""
    return random.uniform(0.0, backoff_ceiling(attempt, base_s, max_s))  # noqa: S311


@use_case
def enqueue(
    uow: UnitOfWork,
    kind: str,
    payload: Mapping[str, Any],
    *,
    priority: int = 0,
    delay_s: float = 0.0,
    max_attempts: int = 5,
    unique_key: str | None = None,
) -> int | None:
    job_id = uow.jobs.enqueue(
        kind,
        payload,
        priority=priority,
        delay_s=delay_s,
        max_attempts=max_attempts,
        unique_key=unique_key,
    )
    uow.commit()
    return job_id


@use_case
def claim(
    uow: UnitOfWork, worker: str, n: int, lease_s: float, kinds: Sequence[str] | None = None
) -> list[ClaimedJob]:
    jobs = uow.jobs.claim(worker, n, lease_s, kinds)
    uow.commit()
    return jobs


def finish_failed(
    uow: UnitOfWork, job: ClaimedJob, error: str, base_s: float, max_s: float
) -> bool:
    """In the caller's unit: again after a backoff, or dead once its attempts are spent."""
    error = error[:ERROR_CHARS]
    if job.last_attempt:
        return uow.jobs.dead(job, error)
    return uow.jobs.retry(job, backoff_delay(job.attempts, base_s, max_s), error)


@use_case
def done(uow: UnitOfWork, job: ClaimedJob) -> bool:
    finished = uow.jobs.done(job)
    uow.commit()
    return finished


@use_case
def failed(uow: UnitOfWork, job: ClaimedJob, error: str, base_s: float, max_s: float) -> bool:
    finished = finish_failed(uow, job, error, base_s, max_s)
    uow.commit()
    return finished


@use_case
def renew(uow: UnitOfWork, job: ClaimedJob, lease_s: float) -> bool:
    renewed = uow.jobs.renew(job, lease_s)
    uow.commit()
    return renewed


@use_case
def release(uow: UnitOfWork, worker: str, ids: Sequence[int]) -> int:
    released = uow.jobs.release(worker, ids)
    uow.commit()
    return released
