"""The pool's health: its status, a bounded `SELECT 1`, one retry on a connection found dead."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypedDict, TypeVar

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool

from backend.core.config import Settings
from backend.core.db_errors import classify_db_error

T = TypeVar("T")

PING_TIMEOUT_S = 2.0


class PoolStatus(TypedDict):
    size: int
    checked_in: int
    checked_out: int
    overflow: int
    max_overflow: int
    timeout_s: float
    recycle_s: int


class PingResult(TypedDict):
    ok: bool
    latency_ms: float | None
    server_version: str | None
    error: str | None


def get_pool_status(engine: Engine, settings: Settings) -> PoolStatus:
    """The pool's counters (its public methods), with the limits it was built with."""
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    return PoolStatus(
        size=pool.size(),
        checked_in=pool.checkedin(),
        checked_out=pool.checkedout(),
        # QueuePool counts overflow from -size; report only connections beyond the size.
        overflow=max(0, pool.overflow()),
        max_overflow=settings.db_max_overflow,
        timeout_s=float(pool.timeout()),
        recycle_s=settings.db_pool_recycle,
    )


_ping_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-ping")


def with_fresh_connection_retry(work: Callable[[], T]) -> T:
    """Run `work` again once if it failed on a connection the server had killed (the pool has
    discarded it by then); used where no Unit of Work retries for us."""
    try:
        return work()
    except sa_exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return work()


def _ping(engine: Engine) -> tuple[float, str]:
    return with_fresh_connection_retry(lambda: _ping_once(engine))


def _ping_once(engine: Engine) -> tuple[float, str]:
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(PING_TIMEOUT_S * 1000)}")
        conn.exec_driver_sql("SELECT 1").scalar_one()
        version = conn.dialect.server_version_info
        conn.rollback()
    latency = (time.perf_counter() - started) * 1000
    return latency, ".".join(str(v) for v in version or ())


def check_connection(engine: Engine, timeout_s: float = PING_TIMEOUT_S) -> PingResult:
    """`SELECT 1` through the pool with its latency, bounded by `timeout_s` whatever happens."""
    future = _ping_executor.submit(_ping, engine)
    try:
        latency, version = future.result(timeout=timeout_s)
    except FutureTimeout:
        return PingResult(
            ok=False,
            latency_ms=None,
            server_version=None,
            error=f"no answer within {timeout_s:g} s",
        )
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        return PingResult(
            ok=False,
            latency_ms=None,
            server_version=None,
            error=classify_db_error(exc) or "database error",
        )
    return PingResult(ok=True, latency_ms=round(latency, 2), server_version=version, error=None)
