"""One engine and session factory per process, built from settings.

The pieces live one concern per module: `engine` (pool, libpq options, idle ping, slow log),
`connection` (the DBAPI connection's state), `transaction` (preambles, transactions we drive,
plain SQL), `prepared` (prepared statements), `pool` (status and ping), `db_errors`
(SQLSTATEs and what is worth a 503).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from backend.core.config import Settings
from backend.core.engine import build_engine
from backend.core.pool import PingResult, PoolStatus, check_connection, get_pool_status
from backend.core.unit_session import UnitSession


@dataclass(frozen=True)
class Database:
    """The process's engine and session factory; build once, share everywhere."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[UnitSession]

    def pool_status(self) -> PoolStatus:
        return get_pool_status(self.engine, self.settings)

    def ping(self) -> PingResult:
        return check_connection(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def create_database(settings: Settings) -> Database:
    engine = build_engine(settings)
    factory = sessionmaker(bind=engine, class_=UnitSession, expire_on_commit=False, autoflush=False)
    return Database(settings=settings, engine=engine, session_factory=factory)
