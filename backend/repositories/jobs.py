"""The work queue's statements: enqueue, claim under a lease, finish (done, again later,
dead). Jobs are system work: the unit that runs them bypasses row-level security."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.expression import bindparam

from backend.repositories.sql import SqlRepository

# The due queued jobs and the running ones whose lease expired, highest priority first, each
# claimed by exactly one worker (SKIP LOCKED: claimers never wait on each other's rows).
_CLAIM = text("""
    WITH picked AS (
        SELECT id FROM jobs
         WHERE ((status = 'queued' AND run_at <= now())
                OR (status = 'running' AND leased_until < now()))
           AND (:kinds IS NULL OR kind = ANY(:kinds))
         ORDER BY priority DESC, run_at, id
         LIMIT :n
           FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j
       SET status = 'running', attempts = j.attempts + 1, leased_by = :worker,
           leased_until = now() + make_interval(secs => :lease_s)
      FROM picked
     WHERE j.id = picked.id
 RETURNING j.id, j.kind, j.payload, j.priority, j.run_at, j.attempts, j.max_attempts
""").bindparams(bindparam("kinds", type_=ARRAY(String)))

_ENQUEUE = text("""
    INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, unique_key, repeat_s)
    VALUES (:kind, :payload, :priority, now() + make_interval(secs => :delay_s), :max_attempts,
            :unique_key, :repeat_s)
    ON CONFLICT (unique_key) WHERE status = 'queued' OR status = 'running' DO NOTHING
 RETURNING id
""").bindparams(bindparam("payload", type_=JSONB))

# Redelivery: a live job under the key is brought forward, with a fresh budget if queued.
_ENQUEUE_NOW = text("""
    INSERT INTO jobs (kind, payload, max_attempts, unique_key)
    VALUES (:kind, :payload, :max_attempts, :unique_key)
    ON CONFLICT (unique_key) WHERE status = 'queued' OR status = 'running' DO UPDATE
       SET run_at = least(jobs.run_at, now()),
           attempts = CASE WHEN jobs.status = 'queued' THEN 0 ELSE jobs.attempts END,
           max_attempts = EXCLUDED.max_attempts
 RETURNING id
""").bindparams(bindparam("payload", type_=JSONB))

# Finishing is fenced on the lease: a worker that lost its lease (it stalled past it and
# another worker claimed the job) changes nothing.
_DONE = text("""
    UPDATE jobs
       SET status = CASE WHEN repeat_s IS NULL THEN 'done' ELSE 'queued' END,
           run_at = CASE WHEN repeat_s IS NULL THEN run_at
                         ELSE now() + make_interval(secs => repeat_s) END,
           attempts = CASE WHEN repeat_s IS NULL THEN attempts ELSE 0 END,
           finished_at = CASE WHEN repeat_s IS NULL THEN now() END,
           leased_by = NULL, leased_until = NULL, last_error = NULL
     WHERE id = :id AND status = 'running' AND leased_by = :worker
""")

_RETRY = text("""
    UPDATE jobs
       SET status = 'queued', run_at = now() + make_interval(secs => :delay_s),
           leased_by = NULL, leased_until = NULL, last_error = :error
     WHERE id = :id AND status = 'running' AND leased_by = :worker
""")

_DEAD = text("""
    UPDATE jobs
       SET status = 'dead', finished_at = now(), leased_by = NULL, leased_until = NULL,
           last_error = :error
     WHERE id = :id AND status = 'running' AND leased_by = :worker
""")

_RENEW = text("""
    UPDATE jobs SET leased_until = now() + make_interval(secs => :lease_s)
     WHERE id = :id AND status = 'running' AND leased_by = :worker
""")

_RELEASE = text("""
    UPDATE jobs
       SET status = 'queued', attempts = greatest(attempts - 1, 0), leased_by = NULL,
           leased_until = NULL
     WHERE id = ANY(:ids) AND status = 'running' AND leased_by = :worker
""")


_PURGE = text("""
    DELETE FROM jobs
     WHERE (status = 'done' OR status = 'dead')
       AND finished_at < now() - make_interval(secs => :older_than_s)
""")


@dataclass(frozen=True)
class ClaimedJob:
    """A job as its worker holds it: `attempts` counts this one."""

    id: int
    kind: str
    payload: Mapping[str, Any]
    priority: int
    attempts: int
    max_attempts: int
    worker: str

    @property
    def last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


class JobRepository(SqlRepository):
    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        priority: int = 0,
        delay_s: float = 0.0,
        max_attempts: int = 5,
        unique_key: str | None = None,
        repeat_s: int | None = None,
    ) -> int | None:
        """The new job's id; None when a live job already holds `unique_key`."""
        row = (
            self.connection()
            .execute(
                _ENQUEUE,
                {
                    "kind": kind,
                    "payload": dict(payload or {}),
                    "priority": priority,
                    "delay_s": delay_s,
                    "max_attempts": max_attempts,
                    "unique_key": unique_key,
                    "repeat_s": repeat_s,
                },
            )
            .first()
        )
        return None if row is None else int(row[0])

    def enqueue_now(
        self, kind: str, payload: Mapping[str, Any], *, unique_key: str, max_attempts: int
    ) -> int:
        """A job due now under `unique_key`: new, or the live one brought forward."""
        params = {
            "kind": kind,
            "payload": dict(payload),
            "unique_key": unique_key,
            "max_attempts": max_attempts,
        }
        return int(self.connection().execute(_ENQUEUE_NOW, params).scalar_one())

    def claim(
        self, worker: str, n: int, lease_s: float, kinds: Sequence[str] | None = None
    ) -> list[ClaimedJob]:
        """Up to `n` jobs (of `kinds`, else any), leased to `worker` for `lease_s`."""
        params = {"n": n, "worker": worker, "lease_s": lease_s, "kinds": kinds and list(kinds)}
        rows = self.connection().execute(_CLAIM, params)
        ordered = sorted(rows, key=lambda r: (-r.priority, r.run_at, r.id))
        return [
            ClaimedJob(
                id=r.id,
                kind=r.kind,
                payload=r.payload,
                priority=r.priority,
                attempts=r.attempts,
                max_attempts=r.max_attempts,
                worker=worker,
            )
            for r in ordered
        ]

    def done(self, job: ClaimedJob) -> bool:
        """Done (a periodic job: queued for its next run). False: the lease was lost."""
        return self._fenced(_DONE, job)

    def retry(self, job: ClaimedJob, delay_s: float, error: str) -> bool:
        return self._fenced(_RETRY, job, delay_s=delay_s, error=error)

    def dead(self, job: ClaimedJob, error: str) -> bool:
        return self._fenced(_DEAD, job, error=error)

    def renew(self, job: ClaimedJob, lease_s: float) -> bool:
        """Extend the lease of a job still running; False: it was lost."""
        return self._fenced(_RENEW, job, lease_s=lease_s)

    def release(self, worker: str, ids: Sequence[int]) -> int:
        """Give back claimed jobs not started (a stopping worker), their attempt not spent."""
        if not ids:
            return 0
        result = self.connection().execute(_RELEASE, {"ids": list(ids), "worker": worker})
        return int(result.rowcount or 0)

    def purge_finished(self, older_than_s: float) -> int:
        """Delete done and dead jobs that finished more than `older_than_s` ago."""
        result = self.connection().execute(_PURGE, {"older_than_s": older_than_s})
        return int(result.rowcount or 0)

    def _fenced(self, statement: Any, job: ClaimedJob, **params: Any) -> bool:
        result = self.connection().execute(
            statement, {"id": job.id, "worker": job.worker, **params}
        )
        return bool(result.rowcount)
