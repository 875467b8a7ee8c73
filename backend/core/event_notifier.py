"""Wakes long-polling readers of the event feed when events commit.

A trigger on `events` notifies channel `oddsdesk_events` once per inserting statement (NOTIFY
is delivered at commit, never for a rolled-back insert). One listener per worker process (a
thread with a connection of its own, core/invalidation.py) wakes every waiting request; a
request registers its waiter *before* its first read and keeps it until it answers, so an
event committed between a read and the wait after it still wakes it. While the listener is
down, waiters wake every FALLBACK_S to read again: slower, never wrong.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from backend.core.invalidation import InvalidationListener

CHANNEL = "oddsdesk_events"
FALLBACK_S = 1.0


class Waiter:
    """One request's wake-up: set from the listener's thread, awaited on the request's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.woken = asyncio.Event()

    def wake(self) -> None:
        self.loop.call_soon_threadsafe(self.woken.set)


class EventNotifier:
    def __init__(self, connect: Callable[[], Any] | None) -> None:
        self._lock = threading.Lock()
        self._waiters: set[Waiter] = set()
        self.listener = (
            InvalidationListener(
                connect, self._wake_all, self._wake_all, channel=CHANNEL, name="event-feed"
            )
            if connect is not None
            else None
        )

    def start(self) -> None:
        if self.listener is not None:
            self.listener.start()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        self._wake_all()

    @property
    def waiting(self) -> int:
        """Requests registered to be woken now."""
        with self._lock:
            return len(self._waiters)

    @contextmanager
    def waiter(self) -> Iterator[Waiter]:
        """Registered from before the request's first read until it answers."""
        waiter = Waiter(asyncio.get_running_loop())
        with self._lock:
            self._waiters.add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    async def wait(self, waiter: Waiter, timeout: float) -> None:
        """Until an event commits (or may have been missed) since the last wake, at most
        `timeout` seconds; then ready for the next read and wait."""
        if self.listener is None or not self.listener.current():
            timeout = min(timeout, FALLBACK_S)
        with suppress(TimeoutError):
            await asyncio.wait_for(waiter.woken.wait(), max(timeout, 0))
        waiter.woken.clear()  # a commit during the next read sets it again

    def _wake_all(self, _payload: str | None = None) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.wake()
