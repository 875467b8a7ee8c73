"""The app's DBAPI connection: psycopg2's, with the app's per-connection state as attributes.

Every pooled connection is an `AppConnection` (the engine's `connection_factory`), so what the
transaction layer, the prepared statements and the pool's idle ping keep about a connection
lives on it for exactly its lifetime, typed, and is never shared between connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import psycopg2.extensions
from sqlalchemy import Connection

if TYPE_CHECKING:
    from backend.core.preamble import Preamble
    from backend.core.prepared import PreparedOnConnection, PreparedPolicy


@dataclass
class ConnectionState:
    # SQL the connection's next statement carries in front of it (backend/core/preamble.py).
    preamble: Preamble | None = None
    # Its transactions are driven by us (BEGIN with the first statement, COMMIT with staged
    # rows) until it returns to the pool.
    explicit: bool = False
    # Whether the engine saves those round trips at all (DB_PIPELINE).
    pipelined: bool = True
    # The engine's prepared-statement policy, and what is prepared on this connection.
    policy: PreparedPolicy | None = None
    prepared: PreparedOnConnection | None = None
    # What every unit of work's transaction sets first (`set_config(..., true)` calls, each
    # followed by ", "): the app's role, and the timeouts when start-up options are off.
    transaction_settings: str = ""
    # When it was checked in (the idle ping), when its current statement started (slow log).
    idle_since: float | None = None
    statement_started: float | None = None


class AppConnection(psycopg2.extensions.connection):  # type: ignore[misc]
    """psycopg2's connection class with a `state` (pass as `connection_factory`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = ConnectionState()


def state_of(conn: Connection) -> ConnectionState:
    """The state of the DBAPI connection under a SQLAlchemy Connection."""
    return dbapi_state(conn.connection.dbapi_connection)


def dbapi_state(dbapi_connection: Any) -> ConnectionState:
    if dbapi_connection is None:
        # An invalidated connection: gone, and with it everything that was kept about it.
        return ConnectionState()
    state = getattr(dbapi_connection, "state", None)
    if state is None:
        raise TypeError("not an AppConnection: build the engine with backend.core.engine")
    return cast(ConnectionState, state)
