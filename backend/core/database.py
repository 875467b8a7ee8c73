"""One engine and session factory per process, built from settings.

The pieces live one concern per module: `engine` (pool, libpq options, idle ping, slow log),
`connection` (the DBAPI connection's state), `transaction` (preambles, transactions we drive,
plain SQL), `prepared` (prepared statements), `pool` (status and ping), `db_errors`
(SQLSTATEs and what is worth a 503).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from backend.core.config import Settings
from backend.core.engine import build_engine, connect_args
from backend.core.pool import PingResult, PoolStatus, check_connection, get_pool_status
from backend.core.replica import ReplicaRouter
from backend.core.unit_session import UnitSession
from backend.core.write_marks import SharedWriteMarks


@dataclass(frozen=True)
class Database:
    """The process's engine and session factory; build once, share everywhere."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[UnitSession]
    replica: ReplicaRouter | None = None  # DATABASE_REPLICA_URL

    def pool_status(self) -> PoolStatus:
        return get_pool_status(self.engine, self.settings)

    def ping(self) -> PingResult:
        return check_connection(self.engine)

    def dispose(self) -> None:
        if self.replica is not None:
            self.replica.close()
        self.engine.dispose()


def _replica(settings: Settings) -> ReplicaRouter | None:
    if settings.database_replica_url is None:
        return None
    own = settings.model_copy(update={"database_url": settings.database_replica_url})
    url = own.sqlalchemy_url.set(drivername="postgresql").render_as_string(hide_password=False)

    def connect() -> Any:
        import psycopg2

        args = {**connect_args(own), "application_name": f"{own.db_application_name}-replica-lag"}
        return psycopg2.connect(url, **args)

    shared = SharedWriteMarks(settings.redis_url) if settings.redis_url else None
    router = ReplicaRouter(build_engine(own), connect, settings.replica_poll_ms / 1000, shared)
    router.start()
    return router


def create_database(settings: Settings) -> Database:
    engine = build_engine(settings)
    factory = sessionmaker(bind=engine, class_=UnitSession, expire_on_commit=False, autoflush=False)
    return Database(
        settings=settings, engine=engine, session_factory=factory, replica=_replica(settings)
    )
