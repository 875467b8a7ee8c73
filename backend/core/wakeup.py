"""Sleep until PostgreSQL announces work (LISTEN/NOTIFY) or a timeout passes, or until
`interrupt()` (a stop request) — the worker's idle wait, so it never busy-loops and never
waits a whole poll interval for work that was announced.

The listening connection is its own (outside the pool). When it is lost, waits fall back to
the plain timeout and it is opened again on the next wait; a missed announcement costs at
most one poll interval, since the worker looks at the queue after every wait anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("oddsdesk.worker")


class Wakeup:
    def __init__(self, connect: Callable[[], Any], channels: Sequence[str]) -> None:
        self._connect = connect
        self._channels = tuple(channels)
        self._conn: Any = None
        self._down = False  # logged once per outage
        # A self-pipe: interrupt() (safe in a signal handler) ends the current wait at once.
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    def interrupt(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_fd, b"x")

    def wait(self, timeout: float) -> bool:
        """True when woken by an announcement or an interrupt, False after the timeout."""
        conn = self._listening()
        watched: list[Any] = [self._read_fd] + ([conn] if conn is not None else [])
        readable, _, _ = select.select(watched, [], [], timeout)
        woken = bool(readable)
        if self._read_fd in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._read_fd, 1024)
        if conn is not None and conn in readable:
            try:
                conn.poll()
                conn.notifies.clear()
            except Exception:  # lost: the next wait connects again
                self._drop()
        return woken

    def _listening(self) -> Any:
        if self._conn is not None:
            return self._conn
        conn = None
        try:
            conn = self._connect()
            conn.autocommit = True
            with conn.cursor() as cur:
                for channel in self._channels:
                    cur.execute(f"LISTEN {channel}")
        except Exception as exc:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            if not self._down:
                log.warning("cannot listen for work; polling", extra={"error": type(exc).__name__})
                self._down = True
            return None
        if self._down:
            log.info("listening for work again")
            self._down = False
        self._conn = conn
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self._drop()
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
