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

This module drives transactions and installs the engine listeners; the preamble itself is in
`preamble.py` (`set_preamble`, `add_to_preamble`), plain SQL in `plain_sql.py` (`stage`,
`raw_execute`, `flush_preamble`). Here: `use_autocommit` / `use_explicit_transactions` /
`begin_sql` / `drives_transactions` / `pipelined`, and `install_transactions`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext

from backend.core.connection import dbapi_state, state_of
from backend.core.plain_sql import raw_execute
from backend.core.preamble import (
    next_prefix,
    pending_preamble,
    preamble_consumed,
    preamble_failed,
)

log = logging.getLogger("oddsdesk.db")


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
        if pending_preamble(conn) is None and not _server_transaction_open(dbapi):
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
        prefix = next_prefix(conn)
        if prefix is None:
            return statement, params
        if many:  # once, not once per parameter set
            cursor.execute(prefix)  # no parameters: psycopg2 sends the text as it is
            preamble_consumed(conn)
            return statement, params
        if params is not None:
            # psycopg2 formats the whole text when parameters are given (even empty ones):
            # a literal % in the preamble (audit rows carry client text) must be doubled.
            prefix = prefix.replace("%", "%%")
        return f"{prefix}; {statement}", params

    @event.listens_for(engine, "after_cursor_execute")
    def _done(conn: Connection, *args: Any) -> None:
        if state_of(conn).preamble is not None:
            preamble_consumed(conn)

    @event.listens_for(engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        if context.connection is not None:
            preamble_failed(context.connection)
