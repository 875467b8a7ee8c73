"""The worker: fans events out into webhook deliveries, schedules the periodic jobs, and
claims and runs jobs, sleeping until PostgreSQL announces work (or a short poll interval).

Crash safety comes from the database: the fan-out moves its cursor in the transaction that
creates the deliveries and their jobs; a job is leased, so a killed worker's jobs are
claimed again once the lease expires; a job's end is fenced on its lease. `stop()` (SIGTERM)
lets the running job finish, gives back the claimed jobs not started, and returns.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text

from backend.core.config import Settings
from backend.core.database import Database
from backend.core.principal import system
from backend.core.wakeup import Wakeup
from backend.repositories.event_fanout import DELIVER, FanOut
from backend.repositories.idempotency import purge_expired
from backend.repositories.jobs import ClaimedJob
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import analytics, history, jobs
from backend.services.use_case import use_case
from backend.services.webhook_delivery import Deliverer

log = logging.getLogger("oddsdesk.worker")

CHANNELS = ("oddsdesk_jobs", "oddsdesk_events")
LEADERBOARD = "leaderboard.refresh"
ANALYTICS = "analytics.recompute"
PURGE = "idempotency.purge"
JOBS_PURGE = "jobs.purge"
JOBS_PURGE_EVERY_S = 3600
PARTITIONS = "history.partitions"
PARTITIONS_EVERY_S = 3600  # cheap when they exist; a year ahead is made long before it is needed
SCHEDULE_EVERY_S = 60.0  # how often a worker makes sure the periodic jobs exist
COALESCE_S = 0.02  # after a wake-up, announcements gather this long before a round

Handler = Callable[[UnitOfWork, ClaimedJob], None]


@use_case
def fan_out(uow: UnitOfWork, batch: int, max_attempts: int) -> FanOut:
    result = uow.event_fanout.fan_out(batch, max_attempts)
    uow.commit()
    return result


@use_case
def schedule_periodic(uow: UnitOfWork, every: dict[str, int]) -> None:
    """One live job per periodic kind, however many workers call this (its unique key)."""
    for kind, seconds in every.items():
        if seconds > 0:
            uow.jobs.enqueue(kind, {}, unique_key=kind, repeat_s=seconds, priority=-1)
    uow.commit()


@use_case
def refresh_leaderboard(uow: UnitOfWork, job: ClaimedJob) -> None:
    uow.session.execute(text("SELECT refresh_strategy_leaderboard()"))
    uow.jobs.done(job)
    uow.commit()


@use_case
def purge_idempotency(uow: UnitOfWork, job: ClaimedJob) -> None:
    deleted = purge_expired(uow.session)
    uow.jobs.done(job)
    uow.commit()
    log.info("purged expired idempotency records", extra={"deleted": deleted})


def purge_jobs(retention_s: int) -> Handler:
    @use_case
    def purge(uow: UnitOfWork, job: ClaimedJob) -> None:
        deleted = uow.jobs.purge_finished(retention_s)
        uow.jobs.done(job)
        uow.commit()
        log.info("purged finished jobs", extra={"deleted": deleted})

    return purge


def ensure_history_partitions(uow: UnitOfWork, job: ClaimedJob) -> None:
    history.ensure_ahead(uow)  # commits on its own; running it twice is harmless
    jobs.done(uow, job)


def recompute_analytics(uow: UnitOfWork, job: ClaimedJob) -> None:
    analytics.recompute(uow)  # commits on its own; running it twice is harmless
    jobs.done(uow, job)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, db: Database, settings: Settings, wakeup: Wakeup | None = None) -> None:
        self.db = db
        self.settings = settings
        self.name = worker_name()
        self.wakeup = wakeup
        self.deliverer = Deliverer.build(settings)
        self.handlers: dict[str, Handler] = {
            DELIVER: self.deliverer,
            LEADERBOARD: refresh_leaderboard,
            ANALYTICS: recompute_analytics,
            PURGE: purge_idempotency,
            JOBS_PURGE: purge_jobs(settings.job_retention_s),
            PARTITIONS: ensure_history_partitions,
        }
        self._stopping = threading.Event()
        self._scheduled_at = float("-inf")

    @contextmanager
    def _lease_kept(self, job: ClaimedJob) -> Iterator[None]:
        """Renew the job's lease every third of JOB_LEASE_S while it runs, so a job longer
        than its lease is not claimed again by another worker; a killed worker renews
        nothing, and its job comes back within one lease."""
        lease_s = self.settings.job_lease_s
        done = threading.Event()

        def keep() -> None:
            while not done.wait(lease_s / 3):
                try:
                    if not jobs.renew(self.uow(), job, lease_s):
                        return  # lost (or already finished)
                except Exception:
                    log.warning("lease not renewed", extra={"job_id": job.id})

        keeper = threading.Thread(target=keep, daemon=True, name=f"lease-{job.id}")
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db.session_factory, system("worker"))

    def stop(self) -> None:
        """Finish the running job, then return from `run` (safe in a signal handler)."""
        self._stopping.set()
        if self.wakeup is not None:
            self.wakeup.interrupt()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        log.info("worker started", extra={"worker": self.name})
        try:
            while not self.stopping:
                busy = self.step()
                if not busy and not self.stopping:
                    self._idle()
        finally:
            self.deliverer.close()
            log.info("worker stopped", extra={"worker": self.name})

    def step(self) -> bool:
        """One round: periodic jobs, fan-out, one batch of jobs. True if it did anything."""
        try:
            self._schedule()
            moved = self.fan_out_all()
            ran = self.run_jobs()
        except Exception:
            # The database went away, a statement timed out...: log, wait, go on.
            log.exception("worker round failed")
            return False
        return moved > 0 or ran > 0

    def _idle(self) -> None:
        if self.wakeup is None:
            self._stopping.wait(self.settings.job_poll_s)
        elif self.wakeup.wait(self.settings.job_poll_s) and not self.stopping:
            # Woken by an announcement: let the ones right behind it (a busy API commits
            # events by the thousand a second) gather, so they cost one round, not one each.
            self._stopping.wait(COALESCE_S)

    def _schedule(self) -> None:
        now = time.monotonic()
        if now - self._scheduled_at < SCHEDULE_EVERY_S:
            return
        schedule_periodic(
            self.uow(),
            {
                PURGE: self.settings.idempotency_purge_every_s,
                ANALYTICS: self.settings.analytics_recompute_every_s,
                JOBS_PURGE: JOBS_PURGE_EVERY_S if self.settings.job_retention_s else 0,
                PARTITIONS: PARTITIONS_EVERY_S,
            },
        )
        self._scheduled_at = now

    def fan_out_all(self) -> int:
        """Fan out every event below the horizon, a batch per transaction."""
        moved = 0
        batch = self.settings.event_dispatch_batch
        while not self.stopping:
            result = fan_out(self.uow(), batch, self.settings.webhook_max_attempts)
            moved += result.events
            if result.events < batch:
                break
        return moved

    def run_jobs(self) -> int:
        # Only the kinds this worker can run: a job of a kind it does not know (one a newer
        # release enqueued, during a rolling deploy) waits for a worker that does.
        claimed = jobs.claim(
            self.uow(),
            self.name,
            self.settings.job_batch,
            self.settings.job_lease_s,
            kinds=list(self.handlers),
        )
        for i, job in enumerate(claimed):
            if self.stopping:
                jobs.release(self.uow(), self.name, [j.id for j in claimed[i:]])
                break
            self.run_job(job)
        return len(claimed)

    def run_job(self, job: ClaimedJob) -> None:
        handler = self.handlers[job.kind]  # only the kinds it has are claimed (run_jobs)
        try:
            with self._lease_kept(job):
                handler(self.uow(), job)
        except Exception as exc:
            log.exception("job failed", extra={"job_id": job.id, "kind": job.kind})
            error = f"{type(exc).__name__}: {exc}"
            base, cap = self.settings.job_retry_base_s, self.settings.job_retry_max_s
            dead = jobs.failed(self.uow(), job, error, base, cap) and job.last_attempt
            if dead and job.kind == DELIVER:
                self.deliverer.abandon(self.uow(), job, error)
