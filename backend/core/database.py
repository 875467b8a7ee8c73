"""One engine and session factory per process, built from settings; pool status and ping."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from backend.core.config import Settings
from backend.core.logging import request_id_var
from backend.core.metrics import SLOW_STATEMENTS

log = logging.getLogger("oddsdesk.db")

T = TypeVar("T")

PING_TIMEOUT_S = 2.0
# A transaction left open by a crashed client is ended by the server after this long.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


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


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def connect_args(settings: Settings) -> dict[str, Any]:
    """libpq options applied when each connection opens: no extra round trip per checkout."""
    options = (
        f"-c statement_timeout={settings.db_statement_timeout_ms}"
        f" -c lock_timeout={settings.db_lock_timeout_ms}"
        f" -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
        " -c timezone=UTC"
    )
    if settings.db_app_role:
        options += f" -c role={settings.db_app_role}"
    return {
        "connect_timeout": settings.db_connect_timeout,
        "application_name": settings.db_application_name,
        "options": options,
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
        connect_args=connect_args(settings),
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )
    _install_slow_query_log(engine, settings.db_slow_query_ms)
    setattr(engine, PREPARED_ATTRIBUTE, PreparedPolicy(settings.db_prepared_statements))
    _install_preamble(engine)
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
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
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


# -- the transaction preamble ------------------------------------------------------------------
# SQL a transaction must run before its next statement (the unit of work's RLS context and key
# check; audit rows staged by `add_to_preamble`). It is sent in the same round trip as that
# statement (`preamble; statement`: psycopg2 sends one simple query, and the cursor holds the
# last statement's result), so it costs no round trip of its own.

PREAMBLE_KEY = "oddsdesk.preamble"


class Preamble:
    """SQL text (values as literals, no parameters) run ahead of the next statement on a
    connection; a `%` in it is doubled when that statement is formatted with parameters.

    `repeat` is for a read-only unit of work on an autocommit connection: there every
    statement is a transaction of its own, so each later statement carries `repeat` (the RLS
    context) in front of it, while `sql` (context plus key check) goes with the first.
    """

    __slots__ = ("done", "repeat", "sql")

    def __init__(self, sql: str, repeat: str | None = None) -> None:
        self.sql = sql
        self.repeat = repeat
        self.done = False


def set_preamble(conn: Connection, sql: str, repeat: str | None = None) -> Preamble:
    """Run `sql` in front of the next statement of this connection's current transaction
    (and `repeat` in front of every statement after it)."""
    preamble = Preamble(sql, repeat)
    conn.info[PREAMBLE_KEY] = preamble
    return preamble


def add_to_preamble(conn: Connection, sql: str) -> None:
    """Append `sql` to what the next statement on `conn` carries in front of it (in a
    transaction: it then runs in that statement's round trip, before it)."""
    preamble: Preamble | None = conn.info.get(PREAMBLE_KEY)
    if preamble is not None and preamble.repeat is not None:
        raise RuntimeError("a read-only unit of work does not write")
    if preamble is not None and not preamble.done:
        preamble.sql = f"{preamble.sql}; {sql}"
    else:
        conn.info[PREAMBLE_KEY] = Preamble(sql)


def _prefix(conn: Connection) -> str | None:
    """What the next statement on `conn` must carry in front of it, if anything."""
    preamble: Preamble | None = conn.info.get(PREAMBLE_KEY)
    if preamble is None:
        return None
    return preamble.repeat if preamble.done else preamble.sql


def _pending(conn: Connection) -> Preamble | None:
    preamble: Preamble | None = conn.info.get(PREAMBLE_KEY)
    return preamble if preamble is not None and not preamble.done else None


def _consumed(conn: Connection) -> None:
    preamble: Preamble | None = conn.info.get(PREAMBLE_KEY)
    if preamble is None:
        return
    preamble.done = True
    if preamble.repeat is None:
        del conn.info[PREAMBLE_KEY]


def _failed_with(conn: Connection) -> None:
    # The statement that carried it failed. In a transaction, that transaction is aborted (or
    # the connection gone), so nothing may carry it again (not even ROLLBACK TO SAVEPOINT);
    # it stays not `done`: no statement of the transaction completed. On an autocommit
    # connection the next statement is a new transaction: it carries the preamble again.
    preamble: Preamble | None = conn.info.get(PREAMBLE_KEY)
    if preamble is not None and preamble.repeat is None:
        del conn.info[PREAMBLE_KEY]


def flush_preamble(conn: Connection) -> None:
    """Run a pending preamble on its own (a unit of work that ran no statement, or work that
    bypasses cursors, such as COPY)."""
    preamble = _pending(conn)
    if preamble is None:
        return
    del conn.info[PREAMBLE_KEY]  # sent now, as the statement itself
    try:
        raw_execute(conn, preamble.sql)
    finally:
        if preamble.repeat is not None:  # later statements still carry the context
            conn.info[PREAMBLE_KEY] = preamble
    preamble.done = True


def use_autocommit(conn: Connection) -> None:
    """Run this connection's statements in autocommit mode until it returns to the pool.

    For read-only units of work: no BEGIN and no ROLLBACK round trips. Each statement (with
    its preamble: RLS context, read-only mode) is one implicit transaction, which under READ
    COMMITTED sees what a statement of an explicit transaction would. The pool's reset
    hook (`_install_preamble`) turns autocommit off again before anyone else gets it.
    """
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dbapi.autocommit = True


# -- transactions we begin and end ourselves ----------------------------------------------------
# psycopg2 sends BEGIN in a round trip of its own before a transaction's first statement, and
# COMMIT in another. A unit of work's connection instead runs in autocommit mode with the
# transaction driven by us: "BEGIN" rides in the preamble of the first statement, and COMMIT
# goes out with whatever is staged for the transaction (audit rows, a bet's idempotency
# record) in one round trip. SQLAlchemy's own commit and rollback still drive it (its
# Transaction is begun as usual; the listeners below turn its commit and rollback into ours),
# and the pool's reset ends whatever transaction the server still has open, by the server's
# own account (libpq's transaction status), before anyone else gets the connection.

EXPLICIT_KEY = "oddsdesk.explicit"
_IDLE = 0  # psycopg2.extensions.TRANSACTION_STATUS_IDLE


def use_explicit_transactions(conn: Connection) -> None:
    """Drive this connection's transactions ourselves until it returns to the pool (see
    above). The caller begins SQLAlchemy's Transaction and starts its preamble with `BEGIN`
    (`begin_sql`)."""
    use_autocommit(conn)
    conn.info[EXPLICIT_KEY] = True


def begin_sql(conn: Connection, sql: str) -> str:
    """`sql` as the preamble of a transaction's first statement on `conn`."""
    return f"BEGIN; {sql}" if EXPLICIT_KEY in conn.info else sql


def _server_transaction_open(dbapi: Any) -> bool:
    return bool(dbapi.get_transaction_status() != _IDLE)


def _end_server_transaction(dbapi: Any) -> None:
    """ROLLBACK whatever transaction the server has open on this DBAPI connection (by libpq's
    account, which sees past psycopg2's autocommit mode)."""
    if _server_transaction_open(dbapi):
        cursor = dbapi.cursor()
        try:
            cursor.execute("ROLLBACK")
        finally:
            cursor.close()


def _install_preamble(engine: Engine) -> None:
    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        if conn.invalidated or EXPLICIT_KEY not in conn.info:
            return
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        if _pending(conn) is None and not _server_transaction_open(dbapi):
            return  # nothing was begun
        # The pending preamble (staged rows; BEGIN and the key check if nothing ran yet)
        # rides in front of the COMMIT.
        raw_execute(conn, "COMMIT").close()

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Connection) -> None:
        # An invalidated connection is gone (the pool discards it): nothing to end.
        if conn.invalidated or conn.closed or EXPLICIT_KEY not in conn.info:
            return
        conn.info.pop(PREAMBLE_KEY, None)  # never sent: nothing of it to undo
        dbapi = conn.connection.dbapi_connection
        if dbapi is None or dbapi.closed:
            return
        try:
            _end_server_transaction(dbapi)
        except Exception:
            # A dead connection: the pool's reset fails on it too and discards it.
            log.debug("ROLLBACK failed", exc_info=True)

    @event.listens_for(engine, "reset")
    def _end_transaction(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
        # Nothing a unit of work left on the connection reaches the next user: a preamble
        # never sent, a transaction we began, autocommit mode (read-only and explicit units).
        record.info.pop(PREAMBLE_KEY, None)
        record.info.pop(EXPLICIT_KEY, None)
        if reset_state.terminate_only or dbapi_connection is None:
            return
        if dbapi_connection.autocommit:
            # An error here (the connection died) makes the pool discard the connection.
            _end_server_transaction(dbapi_connection)
            dbapi_connection.autocommit = False

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _prefix_statement(
        conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        prefix = _prefix(conn)
        if prefix is None:
            return statement, params
        if many:  # once, not once per parameter set
            cursor.execute(prefix)  # no parameters: psycopg2 sends the text as it is
            _consumed(conn)
            return statement, params
        if params is not None:
            # psycopg2 formats the whole text when parameters are given (even empty ones):
            # a literal % in the preamble (audit rows carry client text) must be doubled.
            prefix = prefix.replace("%", "%%")
        return f"{prefix}; {statement}", params

    @event.listens_for(engine, "after_cursor_execute")
    def _done(conn: Connection, *args: Any) -> None:
        if PREAMBLE_KEY in conn.info:
            _consumed(conn)

    @event.listens_for(engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        if context.connection is not None:
            _failed_with(context.connection)


# -- prepared statements ----------------------------------------------------------------------

PREPARED_ATTRIBUTE = "_oddsdesk_prepared_statements"
# conn.info (the DBAPI connection's, cleared when it is replaced): what is prepared on it.
PREPARED_KEY = "oddsdesk.prepared"
# What EXECUTE answers when the server no longer has the statement as prepared: it was
# deallocated behind our back (DISCARD ALL by a pooler, an operator's DEALLOCATE), or a
# migration changed the shape of its result. The connection is then replaced and the unit of
# work retried (nothing of it was committed); whatever caused it likely hit every connection,
# so each of the others starts afresh (DEALLOCATE ALL) the next time it prepares.
STALE_PREPARED_SQLSTATES = frozenset({"26000", "0A000"})


class PreparedPolicy:
    """Per engine: whether hot statements are prepared, and the generation of what was
    prepared (bumped when a connection finds a statement lost: every connection's earlier
    preparations are then suspect)."""

    __slots__ = ("enabled", "generation")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.generation = 0


class _Prepared:
    __slots__ = ("generation", "names")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.names: set[str] = set()


def _lost_prepared(exc: BaseException, sent: str) -> bool:
    """The server no longer has a statement we prepared on this connection (the EXECUTE may
    have been staged in front of another statement, a COMMIT for instance)."""
    code = getattr(exc, "pgcode", None)
    if code == "26000":  # invalid_sql_statement_name: only our EXECUTEs name statements
        return True
    return code == "0A000" and "EXECUTE oddsdesk_" in sent  # a cached plan's result changed


_PARAMETER = re.compile(r"%\((\w+)\)s|%s|%%")


class PreparedSQL:
    """A hot statement that PostgreSQL parses, rewrites (row-level security) and plans once
    per connection instead of once per request.

    Written like any plain SQL of ours, with %(name)s (or positional %s) parameters. With
    DB_PREPARED_STATEMENTS on, each pooled connection sends `PREPARE name AS ...` the first
    time it needs the statement (a round trip of its own, once per connection lifetime,
    outside any preamble) and `EXECUTE name(...)` from then on, its parameters as literals
    like every statement of ours; after five executions PostgreSQL keeps one generic plan
    when it costs no more than the custom ones. Off (for a PgBouncer in transaction mode,
    where a server session's prepared statements do not follow the client), the text itself
    is sent. `lead` is plain SQL sent ahead of it in the same round trip. A parameter whose
    type PostgreSQL cannot infer from its place (an INSERT ... SELECT list, a multi-row
    VALUES) is written with a cast.
    """

    __slots__ = ("execute_sql", "name", "prepare_sql", "text")

    def __init__(self, name: str, sql: str, *, lead: str = "") -> None:
        if not re.fullmatch(r"oddsdesk_[a-z0-9_]{1,54}", name):
            raise ValueError(f"prepared statement name {name!r}: oddsdesk_ + [a-z0-9_]")
        named: list[str] = []
        positional = 0

        def number(match: re.Match[str]) -> str:
            nonlocal positional
            if match.group(0) == "%%":
                return "%"
            if match.group(1) is None:
                positional += 1
                return f"${positional}"
            if match.group(1) not in named:
                named.append(match.group(1))
            return f"${named.index(match.group(1)) + 1}"

        body = _PARAMETER.sub(number, sql)
        if named and positional:
            raise ValueError("a statement has named or positional parameters, not both")
        arguments = ", ".join([f"%({p})s" for p in named] or ["%s"] * positional)
        execute = f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}"
        self.name = name
        self.prepare_sql = f"PREPARE {name} AS {body}"
        self.execute_sql = f"{lead}; {execute}" if lead else execute
        self.text = f"{lead}; {sql}" if lead else sql

    def __repr__(self) -> str:
        return f"PreparedSQL({self.name!r})"


def statement_text(conn: Connection, cursor: Any, statement: str | PreparedSQL) -> str:
    """The text to send for `statement` on this connection (its parameters still to be
    bound), preparing it first if needed."""
    if not isinstance(statement, PreparedSQL):
        return statement
    policy: PreparedPolicy | None = getattr(conn.engine, PREPARED_ATTRIBUTE, None)
    if policy is None or not policy.enabled:
        return statement.text
    prepared: _Prepared | None = conn.info.get(PREPARED_KEY)
    if prepared is None or prepared.generation != policy.generation:
        if prepared is not None and prepared.names:
            cursor.execute("DEALLOCATE ALL")  # start afresh: what is left may be stale
        prepared = conn.info[PREPARED_KEY] = _Prepared(policy.generation)
    if statement.name not in prepared.names:
        # Its own round trip, without the preamble: PREPARE is not transactional, so once it
        # has succeeded the statement stays prepared whatever this transaction does next.
        cursor.execute(statement.prepare_sql)
        prepared.names.add(statement.name)
    return statement.execute_sql


def stage(
    conn: Connection,
    statement: str | PreparedSQL,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
) -> None:
    """Send `statement` with the transaction's next statement, or with its COMMIT, in that
    round trip (see `add_to_preamble`). For statements whose result nobody reads: an error in
    one still fails the transaction (the statements after it in the round trip, its COMMIT
    included, are not run)."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        text = statement_text(conn, cursor, statement)  # may PREPARE: a round trip
    except Exception as exc:
        raise _translated(conn, dbapi, cursor, exc, statement) from exc
    try:
        # psycopg2 always binds client-side: mogrify is the very text it would send.
        add_to_preamble(conn, text if params is None else cursor.mogrify(text, params).decode())
    finally:
        cursor.close()


def raw_execute(
    conn: Connection,
    statement: str | PreparedSQL,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
) -> Any:
    """Plain SQL on a connection's own DBAPI cursor, inside its current transaction.

    For hot paths: no SQLAlchemy result machinery. The engine's cursor events still run
    around it, as for any statement (the transaction's preamble, the slow-statement log,
    statement counters), and the connection's timeouts still bound it. Listeners registered
    on a single Connection object (not the engine) are not run. Returns the psycopg2 cursor.
    """
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    # The engine's listeners (the app registers none on single connections; joining the two
    # levels per statement costs more than the listeners themselves). Listeners registered
    # without retval=True are wrapped by SQLAlchemy to hand back what they were given, so
    # every one of them returns (statement, parameters).
    dispatch = conn.engine.dispatch
    text = statement
    try:
        text = statement_text(conn, cursor, statement)
        for before in dispatch.before_cursor_execute:
            text, params = before(conn, cursor, text, params, None, False)
        cursor.execute(text, params)
    except Exception as exc:
        raise _translated(conn, dbapi, cursor, exc, text) from exc
    for after in dispatch.after_cursor_execute:
        after(conn, cursor, text, params, None, False)
    return cursor


def _translated(
    conn: Connection, dbapi: Any, cursor: Any, exc: Exception, sent: str | PreparedSQL
) -> sa_exc.StatementError:
    """SQLAlchemy's translation of a driver error on plain SQL: a DBAPIError subclass, and a
    connection that died (or lost its prepared statements) invalidated, so the pool never
    hands it out again."""
    dead = conn.dialect.is_disconnect(exc, dbapi, cursor)  # type: ignore[arg-type]
    stale = _lost_prepared(exc, str(sent))
    if stale:
        policy = getattr(conn.engine, PREPARED_ATTRIBUTE, None)
        if policy is not None:
            policy.generation += 1
    _failed_with(conn)
    if dead or stale:
        conn.invalidate(exc)
    return sa_exc.DBAPIError.instance(
        str(sent), None, exc, dbapi_base_err=Exception, connection_invalidated=dead or stale
    )


SLOW_MS_ATTRIBUTE = "_oddsdesk_slow_query_ms"


def _install_slow_query_log(engine: Engine, threshold_ms: int) -> None:
    """Log statements slower than the threshold, with duration and request id, never parameters."""
    setattr(engine, SLOW_MS_ATTRIBUTE, threshold_ms)
    if threshold_ms <= 0:
        return

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["query_start"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = conn.info.pop("query_start", None)
        if started is None:
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms >= threshold_ms:
            _log_slow(statement, elapsed_ms)


@dataclass(frozen=True)
class Database:
    """The process's engine and session factory; build once, share everywhere."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]

    def pool_status(self) -> PoolStatus:
        return get_pool_status(self.engine)

    def ping(self) -> PingResult:
        return check_connection(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def create_database(settings: Settings) -> Database:
    engine = build_engine(settings)
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    return Database(settings=settings, engine=engine, session_factory=factory)


def get_pool_status(engine: Engine) -> PoolStatus:
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    return PoolStatus(
        size=pool.size(),
        checked_in=pool.checkedin(),
        checked_out=pool.checkedout(),
        # QueuePool counts overflow from -size; report only connections beyond the size.
        overflow=max(0, pool.overflow()),
        max_overflow=pool._max_overflow,
        timeout_s=float(pool.timeout()),
        recycle_s=int(pool._recycle),
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


# SQLSTATEs that mean "the database could not serve this now; try again".
_UNAVAILABLE_SQLSTATES = {
    "55P03": "lock_timeout",
    "57014": "statement_timeout",
    "57P01": "connection_lost",  # admin shutdown / terminated backend
    "57P02": "connection_lost",
    "57P03": "unavailable",  # cannot connect now (starting up, shutting down)
    "53300": "too_many_connections",
    "40001": "serialization_failure",
    "40P01": "deadlock",
}


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "pgcode", None)


def classify_db_error(exc: BaseException) -> str | None:
    """The kind of an infrastructure failure, or None for an error the caller caused."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "pool_timeout"
    code = sqlstate(exc)
    if code in _UNAVAILABLE_SQLSTATES:
        return _UNAVAILABLE_SQLSTATES[code]
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "connection_lost"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return "unavailable" if code is None else "connection_lost"
    if isinstance(exc, OSError):
        return "unavailable"
    return None
