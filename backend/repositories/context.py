"""Whose rows a transaction may see: the row-level-security context every transaction of a
unit of work starts with, sent as the preamble of its first statement (no round trip of its
own): the unit's own connection opened with it, and the session hook that arms it for the
ORM's transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, SessionTransaction

from backend.core.connection import state_of
from backend.core.preamble import Preamble, set_preamble
from backend.core.principal import Principal
from backend.core.transaction import (
    begin_sql,
    in_autocommit,
    pipelined,
    use_autocommit,
    use_explicit_transactions,
)
from backend.core.unit_session import UnitSession


def _context_sql(
    tenant: str, bypass: str, key: str | None, settings_sql: str, read_only: bool
) -> tuple[str, str]:
    """(SQL for the first statement, SQL for the context alone)."""
    # Literals, not parameters: the preamble rides in front of statements of any paramstyle.
    # Every value is our own (a UUID's text, 'on' or 'off', the engine's settings), never the
    # client's. The engine's transaction settings come first (the app's role, and the
    # timeouts where start-up options are off: backend/core/engine.py), so the transaction
    # runs as the app's role whatever the connection logged in as and whatever start-up
    # options a pooler dropped.
    context = (
        f"SELECT {settings_sql}set_config('app.tenant_id', '{tenant}', true), "
        f"set_config('app.bypass_rls', '{bypass}', true)"
    )
    if read_only:
        # A read-only unit that tried to write would fail (SQLSTATE 25006), never commit.
        context += ", set_config('transaction_read_only', 'on', true)"
    if key is None:
        return context, context
    # For a tenant key the same round trip re-checks the key: a revoked key or a deactivated
    # tenant is refused even when a worker's auth cache still remembers it.
    return f"{context}, oddsdesk_assert_api_key('{key}')", context


def context_of(principal: Principal) -> dict[str, Any]:
    """The context of a principal's transactions (see `arm_context`)."""
    tenant, key = principal.tenant_id, principal.key_id
    return {
        "tenant": str(tenant) if tenant else "",
        # Admin and system units work across tenants (settlement, purges); tenant units never.
        "bypass": "off" if tenant else "on",
        "key": str(key) if key else None,
    }


def arm_context(conn: Connection, context: dict[str, Any], read_only: bool) -> Preamble:
    """The preamble of a new transaction on `conn`: the RLS context (and key check) in front
    of its first statement, after BEGIN when we drive the transaction; on a read-only unit's
    autocommit connection, the context again in front of every later statement."""
    settings_sql = state_of(conn).transaction_settings
    first, repeat = _context_sql(**context, settings_sql=settings_sql, read_only=read_only)
    if read_only and in_autocommit(conn):
        return set_preamble(conn, first, repeat)
    return set_preamble(conn, begin_sql(conn, first))


def open_with_context(
    engine: Engine, context: dict[str, Any], read_only: bool
) -> tuple[Connection, Preamble]:
    """A pooled connection for a unit of work, its transaction begun (a read-only unit's in
    autocommit mode: each statement its own implicit transaction) and armed with the
    context."""
    conn = engine.connect()
    try:
        if read_only and pipelined(conn):
            use_autocommit(conn)
        else:
            conn.begin()
            if pipelined(conn):
                # BEGIN rides with the first statement, COMMIT with the staged rows.
                use_explicit_transactions(conn)
    except BaseException:
        conn.close()
        raise
    return conn, arm_context(conn, context, read_only)


@event.listens_for(Session, "after_begin")
def _apply_rls_context(session: Session, transaction: SessionTransaction, conn: Connection) -> None:
    """Every transaction of a unit of work starts by telling PostgreSQL whose rows it may see
    (SET LOCAL semantics: it ends with the transaction, so pooled connections carry nothing).

    Sent as the preamble of the transaction's first statement, in the same round trip. A
    connection the server killed is found by that statement; SQLAlchemy then invalidates it
    and every pooled connection older than it, so `UnitOfWork.run` can retry on a fresh one.

    A read-only unit runs on the connection in autocommit mode: no BEGIN, no ROLLBACK, and
    each statement, an implicit transaction of its own, carries the context again.
    """
    if transaction.nested or not isinstance(session, UnitSession):
        return  # a savepoint lives in the context already set
    session.current_connection = conn  # for the hot paths' plain SQL (Repository._raw)
    inherited, session.inherited_preamble = session.inherited_preamble, None
    if inherited is not None:
        # The session's first transaction is the unit's, already begun on its connection
        # with this preamble (sent, or still pending there): nothing to add.
        session.preamble = inherited
        return
    context = session.rls_context
    if context is None:
        return
    if session.read_only and pipelined(conn):
        use_autocommit(conn)
    session.preamble = arm_context(conn, context, session.read_only)


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and isinstance(session, UnitSession):
        session.current_connection = None
