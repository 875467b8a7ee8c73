"""The preamble: SQL a transaction must run before its next statement (the RLS context and
key check; rows staged by `plain_sql.stage`), sent in that statement's round trip
(`preamble; statement`: psycopg2 sends one simple query, and the cursor holds the last
statement's result). It lives on the connection's own state (backend/core/connection.py);
the engine listeners of `transaction.install_transactions` put it in front of statements.
"""

from __future__ import annotations

from sqlalchemy import Connection

from backend.core.connection import state_of


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


def next_prefix(conn: Connection) -> str | None:
    """What the next statement on `conn` must carry in front of it, if anything."""
    preamble = state_of(conn).preamble
    if preamble is None:
        return None
    return preamble.repeat if preamble.done else preamble.sql


def pending_preamble(conn: Connection) -> Preamble | None:
    preamble = state_of(conn).preamble
    return preamble if preamble is not None and not preamble.done else None


def preamble_consumed(conn: Connection) -> None:
    state = state_of(conn)
    preamble = state.preamble
    if preamble is None:
        return
    preamble.done = True
    if preamble.repeat is None:
        state.preamble = None


def preamble_failed(conn: Connection) -> None:
    # The statement that carried it failed. In a transaction, that transaction is aborted (or
    # the connection gone), so nothing may carry it again (not even ROLLBACK TO SAVEPOINT);
    # it stays not `done`: no statement of the transaction completed. On an autocommit
    # connection the next statement is a new transaction: it carries the preamble again.
    state = state_of(conn)
    if state.preamble is not None and state.preamble.repeat is None:
        state.preamble = None
