"""The worker process: `python -m backend.scripts.worker` (run one or more per deployment).

It fans events out into webhook deliveries, sends them, and runs the other jobs (leaderboard
refresh, analytics recompute, idempotency purge), sleeping until PostgreSQL announces work.
SIGTERM or Ctrl-C: the running job finishes, then it exits 0. A killed worker loses nothing:
its jobs are claimed again when their lease (JOB_LEASE_S) expires.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from backend.core.config import load_settings
from backend.core.database import create_database
from backend.core.engine import direct_connection
from backend.core.logging import configure_logging
from backend.core.wakeup import Wakeup
from backend.services.worker import CHANNELS, Worker

PARENT_CHECK_S = 0.5  # how often a worker started by the server checks that it still runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--parent",
        type=int,
        help="stop when this process (the server that started the worker) is gone",
    )
    args = parser.parse_args(argv)
    stopped = False
    worker: Worker | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopped
        stopped = True
        if worker is not None:
            worker.stop()

    # First: a stop asked for while the worker starts is an orderly one too.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format.value)
    db = create_database(settings)
    wakeup = Wakeup(lambda: direct_connection(settings, "worker-listen"), CHANNELS)
    worker = Worker(db, settings, wakeup)
    if stopped:
        worker.stop()
    if args.parent is not None:
        _stop_with_parent(args.parent, worker)
    try:
        worker.run()
    finally:
        wakeup.close()
        db.dispose()
    return 0


def _stop_with_parent(parent: int, worker: Worker) -> None:
    """Watch the process that started this worker; when it is gone (this process is
    re-parented), stop as on SIGTERM: finish the running job, give back the rest."""

    def watch() -> None:
        while not worker.stopping:
            if os.getppid() != parent:
                logging.getLogger("oddsdesk.worker").warning(
                    "the server that started this worker is gone; stopping"
                )
                worker.stop()
                return
            time.sleep(PARENT_CHECK_S)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


if __name__ == "__main__":
    sys.exit(main())
