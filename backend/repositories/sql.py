"""What every repository stands on: its unit of work's session (opened only when the ORM
is needed) and connection, and plain SQL on that connection's DBAPI cursor."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from backend.core.plain_sql import raw_execute
from backend.core.prepared import PreparedSQL
from backend.core.unit_session import UnitSession


def transaction_connection(session: Session) -> Connection:
    """The Connection of the session's transaction (begun if need be), without the session's
    bookkeeping on every call: hot paths run several plain statements on it."""
    conn = session.current_connection if isinstance(session, UnitSession) else None
    return conn if conn is not None else session.connection()


class SessionSource(Protocol):
    """What a unit of work offers its repositories: its session and its connection, each
    opened on first use."""

    @property
    def session(self) -> Session: ...

    def connection(self) -> Connection: ...


def driver_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters for the psycopg2 cursor, which does not adapt UUIDs by itself."""
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in params.items()}


class SqlRepository:
    """A repository's access to its unit of work: the session, opened only when the ORM is
    needed, and the connection its plain SQL runs on (a read-only unit may need no session
    at all)."""

    def __init__(self, session: Session | SessionSource) -> None:
        # A Session, or the unit of work, which opens its session (or, for a read-only unit,
        # just its connection) when a statement first needs it.
        self._source = session

    @property
    def session(self) -> Session:
        source = self._source
        return source if isinstance(source, Session) else source.session

    def connection(self) -> Connection:
        """The connection this repository's plain SQL runs on (the unit's transaction's)."""
        source = self._source
        if isinstance(source, Session):
            return transaction_connection(source)
        return source.connection()

    def _raw(self, statement: str | PreparedSQL, params: Mapping[str, Any]) -> Any:
        """Plain SQL on the unit's connection: the DBAPI cursor, its rows as tuples."""
        return raw_execute(self.connection(), statement, params)

    def compiled(self, stmt: Any) -> str:
        """`stmt` as the psycopg2 cursor takes it (%(name)s parameters)."""
        return str(stmt.compile(dialect=self.connection().dialect))

    def compiled_with_constants(self, stmt: Any) -> tuple[str, dict[str, Any]]:
        """As `compiled`, for a statement with constants of its own (`status IN (...)`): its
        text, IN lists expanded, and the constants' parameters, to send with the caller's (a
        caller's parameter is a `bindparam(..., required=False)`, listed with value None)."""
        compiled = stmt.compile(
            dialect=self.connection().dialect, compile_kwargs={"render_postcompile": True}
        )
        return str(compiled), dict(compiled.params)
