"""Reads from a streaming replica, and each principal's own writes read from the primary.

With DATABASE_REPLICA_URL set, the routes that may read from a replica (their unit of work is
`ReplicaReadDep`) go to it while it is healthy and has replayed the principal's last write;
otherwise to the primary. The router learns both without a round trip of the request's own:

- a poller thread asks the replica `pg_last_wal_replay_lsn()` every REPLICA_POLL_MS on a
  connection of its own; a failed or late answer marks the replica unhealthy (reads fall back
  to the primary at once) until it answers again;
- after each committed write the unit of work asks the primary for `pg_current_wal_lsn()`
  (one extra statement per write, only when a replica is configured) and notes it for its
  principal (a tenant, or the admin): that principal's reads stay on the primary until the
  replica has replayed it.

What a worker notes is its own unless REDIS_URL is set: then every mark is also noted in
Redis (core/write_marks.py, one round trip per write) and a read asks Redis for its
principal's mark (one round trip per read bound for the replica), so a write answered by one
worker (or host) keeps that principal's reads on every other one on the primary too. Without
Redis, a write answered by another worker is not known here (a tenant's next read on this
worker may then come from a replica that has not replayed it yet, for as long as the
replica's lag). Requests that read from a replica skip the query cache, so a cache is only
ever filled from the primary.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from backend.core.principal import Principal
from backend.core.write_marks import SharedWriteMarks

log = logging.getLogger("oddsdesk.replica")

STALE_AFTER_S = 2.0  # a replay position older than this is not trusted
PIN_S = 10.0  # a write whose LSN is unknown keeps its principal on the primary this long


def reader_key(principal: Principal) -> str:
    """Whose writes a replica must have replayed before `principal` reads from it: its tenant,
    or its kind (the admin)."""
    return str(principal.tenant_id) if principal.tenant_id else principal.kind


def lsn_value(text: str) -> int:
    """`16/B374D848` as a number (PostgreSQL's pg_lsn text form)."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


class ReplicaRouter:
    def __init__(
        self,
        engine: Engine,
        connect: Callable[[], Any],
        poll_s: float,
        shared: SharedWriteMarks | None = None,
    ) -> None:
        self.engine = engine
        self.shared = shared  # every worker's marks (REDIS_URL), or None: this worker's only
        self._connect = connect
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._written: dict[str, int] = {}  # principal -> LSN of its last committed write
        self._pinned: dict[str, float] = {}  # principal -> until when it reads the primary
        self.replayed = 0
        self._seen_at = float("-inf")  # when the replica last answered
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what requests ask ----------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self._seen_at < STALE_AFTER_S

    def serves(self, principal: str) -> bool:
        """Whether `principal`'s read may go to the replica now."""
        if not self.healthy:
            return False
        with self._lock:
            written = self._written.get(principal, 0)
            pinned = self._pinned.get(principal)
        if pinned is not None and time.monotonic() < pinned:
            return False
        replayed = self.replayed
        if replayed < written:
            return False
        if self.shared is None:
            return True
        shared = self.shared.mark(principal)  # any worker's last write of this principal
        return shared is not None and replayed >= shared

    def wrote(self, principal: str, lsn: int) -> None:
        with self._lock:
            if lsn > self._written.get(principal, 0):
                self._written[principal] = lsn
        if self.shared is not None:
            self.shared.note(principal, lsn)

    def pin(self, principal: str, seconds: float = PIN_S) -> None:
        """Keep `principal` on the primary for a while (its last write's LSN is unknown)."""
        with self._lock:
            self._pinned[principal] = time.monotonic() + seconds
        if self.shared is not None:  # on every worker, for as long
            self.shared.pin(principal, seconds)

    def failed(self) -> None:
        """A request could not use the replica: primary only until the poller sees it again."""
        self._seen_at = float("-inf")

    # -- the poller ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="replica-lag")
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.shared is not None:
            self.shared.close()
        self.engine.dispose()

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self._connect()
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_last_wal_replay_lsn()::text")
                    (position,) = cur.fetchone()
                if position is None:
                    raise RuntimeError("not a replica: pg_last_wal_replay_lsn() is null")
                self.replayed = lsn_value(position)
                self._seen_at = time.monotonic()
                self._forget_replayed()
            except Exception as exc:
                if self.healthy or conn is not None:
                    log.warning(
                        "replica unavailable; reads go to the primary",
                        extra={"error": type(exc).__name__},
                    )
                self.failed()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            self._stop.wait(self._poll_s)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _forget_replayed(self) -> None:
        with self._lock:
            done = [p for p, lsn in self._written.items() if lsn <= self.replayed]
            for principal in done:
                del self._written[principal]
            now = time.monotonic()
            for principal in [p for p, until in self._pinned.items() if until <= now]:
                del self._pinned[principal]
