"""The process's engine: pool, libpq options, idle ping, slow-statement log."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool

from backend.core.config import Settings
from backend.core.connection import AppConnection, dbapi_state, state_of
from backend.core.logging import request_id_var
from backend.core.metrics import SLOW_STATEMENTS
from backend.core.prepared import PreparedPolicy
from backend.core.transaction import install_transactions

log = logging.getLogger("oddsdesk.db")

# A transaction left open by a crashed client is ended by the server after this long.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _session_settings(settings: Settings) -> list[tuple[str, str]]:
    settings_list = [
        ("statement_timeout", str(settings.db_statement_timeout_ms)),
        ("lock_timeout", str(settings.db_lock_timeout_ms)),
        ("idle_in_transaction_session_timeout", str(IDLE_IN_TRANSACTION_TIMEOUT_MS)),
        ("timezone", "UTC"),
    ]
    if settings.db_app_role:
        settings_list.append(("role", settings.db_app_role))
    return settings_list


def transaction_settings_sql(settings: Settings) -> str:
    """What each unit of work's transaction sets first, in its first statement's round trip:
    always the app's role (so row-level security binds the app even where a pooler dropped
    the start-up options and the login user could bypass it); the timeouts too when the
    start-up options are off (DB_STARTUP_OPTIONS=false). SET LOCAL semantics: the pooled
    connection carries nothing of it after the transaction. Values are the settings' own,
    held to digits and [a-z0-9_] by their validation."""
    wanted = _session_settings(settings)
    if settings.db_startup_options:
        wanted = [(name, value) for name, value in wanted if name == "role"]
    return "".join(f"set_config('{name}', '{value}', true), " for name, value in wanted)


def connect_args(settings: Settings) -> dict[str, Any]:
    """libpq options applied when each connection opens: no extra round trip per checkout
    (none with DB_STARTUP_OPTIONS=false, for a pooler that refuses them)."""
    options = " ".join(f"-c {name}={value}" for name, value in _session_settings(settings))
    return {
        "connect_timeout": settings.db_connect_timeout,
        "application_name": settings.db_application_name,
        **({"options": options} if settings.db_startup_options else {}),
        # A peer that vanished without a FIN is noticed in ~40 s instead of hours.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }


def direct_connection(settings: Settings, purpose: str) -> Any:
    """A psycopg2 connection of its own, outside the pool (same server, options, timeouts
    and role), named `<application>-<purpose>` in pg_stat_activity."""
    import psycopg2

    url = settings.sqlalchemy_url.set(drivername="postgresql")
    args = connect_args(settings)
    args["application_name"] = f"{settings.db_application_name[:40]}-{purpose}"
    return psycopg2.connect(url.render_as_string(hide_password=False), **args)


# A connection back in use within this many seconds is not pinged on checkout (see below).
PING_IDLE_AFTER_S = 1.0


def build_engine(settings: Settings) -> Engine:
    engine = create_engine(
        settings.sqlalchemy_url,
        poolclass=QueuePool,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=False,  # replaced by _install_idle_ping: same protection, fewer round trips
        pool_use_lifo=True,
        echo=settings.db_echo,
        hide_parameters=True,
        connect_args={**connect_args(settings), "connection_factory": AppConnection},
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )
    policy = PreparedPolicy(settings.db_prepared_statements)
    per_transaction = transaction_settings_sql(settings)

    @event.listens_for(engine, "connect")
    def _adopt(dbapi_connection: Any, record: Any) -> None:
        state = dbapi_state(dbapi_connection)
        state.policy = policy  # one policy per engine, on each connection
        state.pipelined = settings.db_pipeline
        state.transaction_settings = per_transaction

    _install_slow_query_log(engine, settings.db_slow_query_ms)
    install_transactions(engine)
    if settings.db_pool_pre_ping:
        _install_idle_ping(engine)
    return engine


def _install_idle_ping(engine: Engine) -> None:
    """Pre-ping, without a round trip on every checkout.

    A connection that sat idle longer than PING_IDLE_AFTER_S is pinged when checked out (a
    dead one is replaced before use, as with SQLAlchemy's pool_pre_ping). One back in use
    sooner is not: if the server killed it in that instant, the unit of work's first
    statement (the RLS context statement, before any work) fails as a disconnect, the pool
    discards it, and `UnitOfWork.run` retries on a fresh connection. Under load that saves
    one round trip per request; killed idle connections still cost no request.
    """

    @event.listens_for(engine, "checkin")
    def _stamp(dbapi_connection: Any, record: Any) -> None:
        dbapi_state(dbapi_connection).idle_since = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = dbapi_state(dbapi_connection).idle_since
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_AFTER_S:
            return
        try:
            # In autocommit: no transaction is left open (a read-only unit of work may then
            # switch the connection to autocommit itself; see use_autocommit).
            dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
                dbapi_connection.autocommit = False
        except Exception as exc:
            raise sa_exc.DisconnectionError("connection found dead on checkout") from exc


def _log_slow(statement: str, elapsed_ms: float) -> None:
    SLOW_STATEMENTS.inc()
    log.warning(
        "slow statement",
        extra={
            "duration_ms": round(elapsed_ms, 1),
            "request_id": request_id_var.get(),
            "statement": " ".join(statement.split())[:500],
        },
    )


def _install_slow_query_log(engine: Engine, threshold_ms: int) -> None:
    """Log statements slower than the threshold, with duration and request id, never parameters."""
    if threshold_ms <= 0:
        return

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        state_of(conn).statement_started = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        state = state_of(conn)
        started, state.statement_started = state.statement_started, None
        if started is None:
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms >= threshold_ms:
            _log_slow(statement, elapsed_ms)
