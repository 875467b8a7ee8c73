"""Plain SQL on a connection's own DBAPI cursor, inside its current transaction: run now
(`raw_execute`), or staged to ride with the transaction's next statement or its COMMIT
(`stage`), and a pending preamble sent on its own (`flush_preamble`). Driver errors become
SQLAlchemy's, and a dead connection (or one whose prepared statements were lost) is
invalidated, as for any statement SQLAlchemy runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from backend.core.connection import state_of
from backend.core.preamble import add_to_preamble, pending_preamble, preamble_failed
from backend.core.prepared import PreparedSQL, lost_prepared, statement_text


def flush_preamble(conn: Connection) -> None:
    """Run a pending preamble on its own (a unit of work that ran no statement, or work that
    bypasses cursors, such as COPY)."""
    preamble = pending_preamble(conn)
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
    preamble_failed(conn)
    if dead or stale:
        conn.invalidate(exc)
    return sa_exc.DBAPIError.instance(
        str(sent), None, exc, dbapi_base_err=Exception, connection_invalidated=dead or stale
    )
