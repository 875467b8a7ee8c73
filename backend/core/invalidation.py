"""The cache invalidation channel on PostgreSQL itself: LISTEN/NOTIFY, fed by triggers.

Triggers (migration 0005) announce every committed change of a cached row on the
`oddsdesk_invalidations` channel, whoever made it (the API, a script, plain SQL); NOTIFY is
transactional, so a rolled-back change announces nothing. Each worker runs one listener: a
thread with a connection of its own (outside the pool) that drops what the announcements name.

The listener also proves it is current. Every HEARTBEAT_S it runs `SELECT 1` on its
connection: by the time the answer is back, PostgreSQL has handed it every announcement
committed before the query was sent. `current()` is true while the last such proof is younger
than CURRENT_FOR_S; a listener that lost its connection, hangs on a dead network or starves
is not current, and its caches are dropped when it connects again (it may have missed
announcements). The unit of work relies on this to skip the database for a request answered
from the cache alone (see UnitOfWork._send_pending).
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("oddsdesk.cache")

CHANNEL = "oddsdesk_invalidations"
HEARTBEAT_S = 0.5
CURRENT_FOR_S = 1.5
RECONNECT_S = (0.2, 5.0)  # first and longest wait between connection attempts


class InvalidationListener:
    """LISTEN on a channel (the invalidation channel unless told) in a daemon thread;
    `on_message(payload)` for each announcement, `on_reset()` whenever announcements may have
    been missed."""

    def __init__(
        self,
        connect: Callable[[], Any],
        on_message: Callable[[str], None],
        on_reset: Callable[[], None],
        *,
        channel: str = CHANNEL,
        name: str = "cache-invalidations",
    ) -> None:
        self._connect = connect
        self.channel, self.name = channel, name
        self._on_message = on_message
        self._on_reset = on_reset
        self._confirmed_at = float("-inf")  # send time of the last completed heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self.connects = 0  # connections made (1 + reconnects), for operators and tests
        self.backend_pid: int | None = None  # the listening server process

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
            self._thread.start()

    def current(self) -> bool:
        """True when every change committed more than CURRENT_FOR_S ago has been applied."""
        return time.monotonic() - self._confirmed_at < CURRENT_FOR_S

    def confirmed_ms_ago(self) -> float | None:
        age = time.monotonic() - self._confirmed_at
        return None if age == float("inf") else round(age * 1000, 1)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):  # best effort on the way out
                conn.cancel()  # interrupts a heartbeat stuck on the server side
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        wait = RECONNECT_S[0]
        down = False  # logged once per outage, not once per attempt
        while not self._stop.is_set():
            try:
                self._conn = self._connect()
                self._conn.autocommit = True
                with self._conn.cursor() as cur:
                    cur.execute(f"LISTEN {self.channel}")
                self.connects += 1
                self.backend_pid = self._conn.get_backend_pid()
                # Listening from here on; whatever changed before is read fresh from now.
                self._on_reset()
                wait = RECONNECT_S[0]
                if down:
                    log.info("notification channel back", extra={"channel": self.channel})
                    down = False
                self._listen(self._conn)
            except Exception as exc:
                if not self._stop.is_set() and not down:
                    log.warning(
                        "notification channel lost until it is back",
                        extra={"error": type(exc).__name__, "channel": self.channel},
                    )
                    down = True
            finally:
                self._confirmed_at = float("-inf")
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):  # already gone
                        conn.close()
            self._stop.wait(wait)
            wait = min(wait * 2, RECONNECT_S[1])

    def _listen(self, conn: Any) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
            self._drain(conn)
            self._confirmed_at = sent
            deadline = sent + HEARTBEAT_S
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                readable, _, _ = select.select([conn], [], [], left)
                if readable:
                    conn.poll()
                    self._drain(conn)

    def _drain(self, conn: Any) -> None:
        while conn.notifies:
            notify = conn.notifies.pop(0)
            try:
                self._on_message(notify.payload)
            except Exception:
                log.exception("cache invalidation not applied", extra={"payload": notify.payload})
                self._on_reset()
