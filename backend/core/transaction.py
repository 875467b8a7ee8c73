"""The connection layer under the Unit of Work: what a transaction sends, and when.

Two savings of round trips, both on the connection's own state (backend/core/connection.py):

- The preamble. SQL a transaction must run before its next statement (the RLS context and key
  check; rows staged by `stage`) is sent in that statement's round trip (`preamble;
  statement`: psycopg2 sends one simple query, and the cursor holds the last statement's
  result).
- Transactions we drive. psycopg2 sends BEGIN in a round trip of its own before a
  transaction's first statement, and COMMIT in another. A unit of work's connection instead
  runs in autocommit mode: "BEGIN" rides in the preamble of the first statement, and COMMIT
  goes out with whatever is staged (audit rows, a bet's idempotency record). SQLAlchemy's own
  commit and rollback still drive it (its Transaction is begun as usual; the listeners of
  `install_transactions` turn its commit and rollback into ours), and the pool's reset ends
  whatever transaction the server still has open, by the server's own account (libpq's
  transaction status), before anyone else gets the connection.

The surface: `set_preamble` (a transaction's context), `stage` (send with the next statement
or the COMMIT), `raw_execute` (plain SQL on the DBAPI cursor), `flush_preamble`,
`use_autocommit` / `use_explicit_transactions` / `begin_sql` / `drives_transactions`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext

from backend.core.connection import dbapi_state, state_of
from backend.core.prepared import PreparedSQL, lost_prepared, statement_text

log = logging.getLogger("oddsdesk.db")

# SQL a transaction must run before its next statement (the unit of work's RLS context and key
# check; audit rows staged by `add_to_preamble`). It is sent in the same round trip as that
# statement (`preamble; statement`: psycopg2 sends one simple query, and the cursor holds the
# last statement's result), so it costs no round trip of its own.


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
    preamble = state_of(conn).preamble = Preamble(sql, repeat)
    return preamble


def add_to_preamble(conn: Connection, sql: str) -> None:
    """Append `sql` to what the next statement on `conn` carries in front of it (in a
    transaction: it then runs in that statement's round trip, before it)."""
    state = state_of(conn)
    preamble = state.preamble
    if preamble is not None and preamble.repeat is not None:
        raise RuntimeError("a read-only unit of work does not write")
    if preamble is not None and not preamble.done:
        preamble.sql = f"{preamble.sql}; {sql}"
    else:
        state.preamble = Preamble(sql)


def _prefix(conn: Connection) -> str | None:
    """What the next statement on `conn` must carry in front of it, if anything."""
    preamble = state_of(conn).preamble
    if preamble is None:
        return None
    return preamble.repeat if preamble.done else preamble.sql


def _pending(conn: Connection) -> Preamble | None:
    preamble = state_of(conn).preamble
    return preamble if preamble is not None and not preamble.done else None


def _consumed(conn: Connection) -> None:
    state = state_of(conn)
    preamble = state.preamble
    if preamble is None:
        return
    preamble.done = True
    if preamble.repeat is None:
        state.preamble = None


def _failed_with(conn: Connection) -> None:
    # The statement that carried it failed. In a transaction, that transaction is aborted (or
    # the connection gone), so nothing may carry it again (not even ROLLBACK TO SAVEPOINT);
    # it stays not `done`: no statement of the transaction completed. On an autocommit
    # connection the next statement is a new transaction: it carries the preamble again.
    state = state_of(conn)
    if state.preamble is not None and state.preamble.repeat is None:
        state.preamble = None


def flush_preamble(conn: Connection) -> None:
    """Run a pending preamble on its own (a unit of work that ran no statement, or work that
    bypasses cursors, such as COPY)."""
    preamble = _pending(conn)
    if preamble is None:
        return
    state = state_of(conn)
    state.preamble = None  # sent now, as the statement itself
    try:
        raw_execute(conn, preamble.sql)
    finally:
        if preamble.repeat is not None:  # later statements still carry the context
            state.preamble = preamble
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

_IDLE = 0  # psycopg2.extensions.TRANSACTION_STATUS_IDLE


def use_explicit_transactions(conn: Connection) -> None:
    """Drive this connection's transactions ourselves until it returns to the pool (see
    above). The caller begins SQLAlchemy's Transaction and starts its preamble with `BEGIN`
    (`begin_sql`)."""
    use_autocommit(conn)
    state_of(conn).explicit = True


def begin_sql(conn: Connection, sql: str) -> str:
    """`sql` as the preamble of a transaction's first statement on `conn`."""
    return f"BEGIN; {sql}" if state_of(conn).explicit else sql


def pipelined(conn: Connection) -> bool:
    """Whether `conn`'s engine saves round trips (DB_PIPELINE): units of work then drive its
    transactions (`use_explicit_transactions`) and read in autocommit (`use_autocommit`)."""
    return state_of(conn).pipelined


def in_autocommit(conn: Connection) -> bool:
    return bool(getattr(conn.connection.dbapi_connection, "autocommit", False))


def drives_transactions(conn: Connection) -> bool:
    """Whether BEGIN and COMMIT on `conn` are ours (see `use_explicit_transactions`)."""
    return state_of(conn).explicit


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


def install_transactions(engine: Engine) -> None:
    """The engine listeners that send preambles with statements and drive our transactions."""

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        if conn.invalidated or not state_of(conn).explicit:
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
        if conn.invalidated or conn.closed or not state_of(conn).explicit:
            return
        state_of(conn).preamble = None  # never sent: nothing of it to undo
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
        if dbapi_connection is None:
            return
        state = dbapi_state(dbapi_connection)
        state.preamble, state.explicit = None, False
        if reset_state.terminate_only:
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
        if state_of(conn).preamble is not None:
            _consumed(conn)

    @event.listens_for(engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        if context.connection is not None:
            _failed_with(context.connection)


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
    stale = lost_prepared(exc, str(sent))
    if stale:
        policy = state_of(conn).policy
        if policy is not None:
            policy.generation += 1
    _failed_with(conn)
    if dead or stale:
        conn.invalidate(exc)
    return sa_exc.DBAPIError.instance(
        str(sent), None, exc, dbapi_base_err=Exception, connection_invalidated=dead or stale
    )
