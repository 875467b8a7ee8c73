"""A worker running in a thread of the test process, with test-sized settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from backend.core.config import Settings
from backend.core.database import create_database
from backend.core.engine import direct_connection
from backend.core.wakeup import Wakeup
from backend.services.worker import CHANNELS, Worker

FAST = {
    "job_poll_s": 0.2,
    "job_lease_s": 10.0,
    "webhook_timeout_s": 2.0,
    "webhook_retry_base_s": 0.05,
    "webhook_retry_max_s": 0.2,
    "webhook_max_attempts": 4,
    "idempotency_purge_every_s": 0,
    "analytics_recompute_every_s": 0,
}


@contextmanager
def running_worker(settings: Settings, **overrides: Any) -> Iterator[Worker]:
    configured = settings.model_copy(update={**FAST, **overrides})
    db = create_database(configured)
    wakeup = Wakeup(lambda: direct_connection(configured, "test-worker"), CHANNELS)
    worker = Worker(db, configured, wakeup)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(15)
        wakeup.close()
        db.dispose()
    assert not thread.is_alive()


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
