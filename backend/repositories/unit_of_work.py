"""The Unit of Work: one transaction, its repositories, its actor, and its audit trail."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import SessionTransaction, sessionmaker

from backend.core.cache import Caches
from backend.core.db_errors import sqlstate
from backend.core.plain_sql import flush_preamble
from backend.core.preamble import Preamble
from backend.core.principal import Principal
from backend.core.replica import ReplicaRouter, lsn_value, reader_key
from backend.core.transaction import drives_transactions
from backend.core.unit_session import UnitSession
from backend.models.base import Base
from backend.repositories.analytics import AnalyticsRepository
from backend.repositories.audit import AuditBuffer, AuditContext
from backend.repositories.audit_hooks import install_audit_hooks
from backend.repositories.audit_log import AuditRepository, TenantAuditRepository
from backend.repositories.backtests import BacktestRepository
from backend.repositories.bets import BetRepository
from backend.repositories.context import arm_context, context_of, open_with_context
from backend.repositories.event_fanout import EventFanOutRepository
from backend.repositories.events import EventRepository
from backend.repositories.history import HistoryPartitionRepository
from backend.repositories.idempotency import IdempotencyRepository
from backend.repositories.imports import ImportRepository
from backend.repositories.jobs import JobRepository
from backend.repositories.odds import OddsRepository
from backend.repositories.reference import BookmakerRepository, MatchRepository, TeamRepository
from backend.repositories.registry import plain, tenant
from backend.repositories.retries import MAX_ATTEMPTS, key_error, pause_before_retry, retryable
from backend.repositories.settlement import SettlementRepository
from backend.repositories.sql import transaction_connection
from backend.repositories.strategies import StrategyRepository
from backend.repositories.tenancy import ApiKeyRepository, TenantRecordRepository
from backend.repositories.webhook_sending import WebhookSendingRepository
from backend.repositories.webhooks import WebhookDeliveryRepository, WebhookEndpointRepository

log = logging.getLogger("oddsdesk.uow")

install_audit_hooks()  # every unit's flushes are audited

P = ParamSpec("P")
T = TypeVar("T")


class UnitOfWork:
    """`with uow:` begins; `uow.commit()` commits; leaving without commit rolls back.

    A UnitOfWork may be entered again after it exits (each time a new session), which is
    what `run()` uses to retry a whole unit of work after a serialization failure.
    """

    teams = plain(TeamRepository)
    bookmakers = plain(BookmakerRepository)
    matches = plain(MatchRepository)
    audit_log = plain(AuditRepository)
    analytics = plain(AnalyticsRepository)
    odds = plain(OddsRepository)
    imports = plain(ImportRepository)
    settlement = plain(SettlementRepository)
    tenants = plain(TenantRecordRepository)
    api_keys = plain(ApiKeyRepository)
    backtests = plain(BacktestRepository)
    # Row-level security shows a tenant its own events and the reference ones.
    events = plain(EventRepository)
    jobs = plain(JobRepository)
    event_fanout = plain(EventFanOutRepository)
    webhook_sending = plain(WebhookSendingRepository)
    history = plain(HistoryPartitionRepository)
    # Tenant-scoped: built with the principal's tenant; NotATenant for anyone else.
    strategies = tenant(StrategyRepository)
    bets = tenant(BetRepository)
    idempotency = tenant(IdempotencyRepository)
    tenant_audit_log = tenant(TenantAuditRepository)
    webhook_endpoints = tenant(WebhookEndpointRepository)
    webhook_deliveries = tenant(WebhookDeliveryRepository)

    def __init__(
        self,
        session_factory: sessionmaker[UnitSession],
        principal: Principal,
        *,
        request_id: str | None = None,
        change_reason: str | None = None,
        caches: Caches | None = None,
        read_only: bool = False,
        replica: ReplicaRouter | None = None,
    ) -> None:
        self._session_factory = session_factory
        # A read-only unit reads from this replica while it serves the principal (else from
        # the primary); a writing unit tells it the LSN of each commit (core/replica.py).
        self.replica = replica
        self._on_replica = False  # the current attempt reads from the replica
        bind = session_factory.kw.get("bind")
        # The pool the unit takes its own connection from (None: a session bound to a given
        # connection, as the integration tests' outer transaction).
        self._engine: Engine | None = bind if isinstance(bind, Engine) else None
        self.read_only = read_only
        self.caches = caches
        self.principal = principal
        self.request_id = request_id
        self.change_reason = change_reason
        self._session: UnitSession | None = None
        self._connection: Connection | None = None
        self._preamble: Preamble | None = None
        self._open = False
        self._context: dict[str, Any] = {}
        # The repositories this unit has built so far, by name (see repositories.registry).
        self.built_repositories: dict[str, Any] = {}
        self._committed = False
        self._first_done = False
        self._must_check_key = False
        self._on_commit: list[Callable[[], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._open:
            raise RuntimeError("UnitOfWork is already open")
        self.audit = AuditBuffer(
            AuditContext(
                actor=self.principal.actor,
                tenant_id=self.principal.tenant_id,
                request_id=self.request_id,
                change_reason=self.change_reason,
            )
        )
        self._context = context_of(self.principal)
        # A tenant key is re-checked in the database by every unit of work, with its first
        # statement (no round trip of its own), so a key revoked on another worker is never
        # served. A unit that runs no statement (answered from the cache) checks it on its
        # own before it ends, unless this worker's invalidation listener is current: then
        # the revocation, announced at its commit, has already dropped the cached key.
        self._must_check_key = self.principal.key_id is not None
        self._open = True
        # Opened when first needed (a read served from a cache needs neither).
        self._session = None
        self._connection = None
        self._preamble = None
        self._committed = False
        self._first_done = False
        self._on_commit = []
        self.built_repositories = {}
        return self

    def connection(self) -> Connection:
        """The unit's connection, opened on first use: a pooled connection of its own with
        one transaction (in autocommit mode for a read-only unit), so plain SQL runs without
        an ORM session around it. A session, when one is needed, works on this connection."""
        conn = self._connection
        if conn is not None:
            return conn
        if self._session is not None:
            return transaction_connection(self._session)
        if self._engine is None:  # sessions joined to a test's outer transaction
            return transaction_connection(self.session)
        if not self._open:
            raise RuntimeError("UnitOfWork is not open: use `with uow:`")
        conn, self._preamble = self._open_connection()
        self._connection = conn
        return conn

    @property
    def principal_key(self) -> str:
        return reader_key(self.principal)

    def _open_connection(self) -> tuple[Connection, Preamble]:
        assert self._engine is not None
        replica = self.replica
        self._on_replica = False
        if self.read_only and replica is not None and replica.serves(self.principal_key):
            try:
                opened = open_with_context(replica.engine, self._context, self.read_only)
            except DBAPIError:
                replica.failed()  # down: this read and the next ones go to the primary
                log.warning("replica connection failed; reading from the primary")
            else:
                self._on_replica = True
                return opened
        return open_with_context(self._engine, self._context, self.read_only)

    def _open_session(self) -> UnitSession:
        # On the unit's connection (its transaction, which the session then owns: its commit
        # commits it, its close rolls back what was not committed).
        conn = self.connection() if self._engine is not None else None
        session = (
            self._session_factory()
            if conn is None
            else self._session_factory(bind=conn, join_transaction_mode="control_fully")
        )
        if not isinstance(session, UnitSession):
            raise TypeError("a UnitOfWork needs sessionmaker(class_=UnitSession)")
        session.audit = self.audit
        session.rls_context = self._context
        if conn is not None:
            session.inherited_preamble = self._preamble
        session.read_only = self.read_only
        return session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._open:
            return
        try:
            if exc_type is None and not self._committed and self._must_check_key:
                self._send_pending()  # a unit that only read from caches still checks
        finally:
            session, self._session = self._session, None
            conn, self._connection = self._connection, None
            self._open = False
            self.built_repositories = {}
            if not self._committed:
                self.audit.discard()
            preambles = [self._preamble] if conn is not None else []
            if session is not None:
                preambles.append(session.preamble)
            self._first_done = any(p is not None and p.done for p in preambles)
            try:
                if session is not None:
                    # close() detaches the loaded objects (their state stays readable, unlike
                    # after rollback(), which expires them) and then rolls back whatever was
                    # not committed.
                    session.close()
            finally:
                if conn is not None:
                    # Back to the pool: an uncommitted transaction rolled back, autocommit off.
                    conn.close()

    def _send_pending(self, *, at_commit: bool = False) -> None:
        """Send what the unit's connection still holds for the server when no statement
        carried it (the key check, staged rows), unless the COMMIT about to go out carries it
        (a transaction we drive). A unit that ran nothing but must check its key opens a
        connection for that alone."""
        conn = self._connection
        if conn is None and self._session is not None:
            conn = self._session.current_connection
        if conn is None:
            if not self._must_check_key or (self.caches is not None and self.caches.current):
                return
            conn = self.connection()
        if not (at_commit and drives_transactions(conn)):
            flush_preamble(conn)

    @property
    def is_open(self) -> bool:
        """Entered and not yet left (`with uow:`)."""
        return self._open

    @property
    def session_factory(self) -> sessionmaker[UnitSession]:
        return self._session_factory

    @property
    def session(self) -> UnitSession:
        session = self._session
        if session is None:
            if not self._open:
                raise RuntimeError("UnitOfWork is not open: use `with uow:`")
            session = self._session = self._open_session()
        return session

    def commit(self) -> None:
        """Flush, write the audit rows of every change, commit, then run after-commit hooks.

        On a connection whose transactions we drive (see database.use_explicit_transactions),
        the audit rows and anything else staged go out with the COMMIT, in one round trip."""
        session = self._session
        if session is not None:
            session.flush()
        if self.audit.dirty:
            audited = self.connection()
            if drives_transactions(audited):
                self.audit.stage(audited)
            else:
                self.audit.write(audited)
        self._send_pending(at_commit=True)
        conn = self._connection
        if session is not None:
            session.commit()
        elif conn is not None:
            conn.commit()
            if not self.read_only:
                # Whatever runs after the commit is another transaction: it sets the context
                # again (a session's next transaction does so in after_begin).
                if drives_transactions(conn):
                    conn.begin()
                self._preamble = arm_context(conn, self._context, read_only=False)
        if self.replica is not None and not self.read_only:
            self._note_commit_lsn()
        self._committed = True
        callbacks, self._on_commit = self._on_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the data is committed; a failed hook must not undo the answer
                log.exception("after-commit hook failed")

    def _note_commit_lsn(self) -> None:
        """Tell the replica router where the primary's WAL stood after this commit: the
        principal reads from the primary until the replica has replayed that far. On the
        DBAPI connection itself, outside any transaction (no preamble, no BEGIN); a failure
        here leaves the commit as it is and routes the principal to the primary."""
        assert self.replica is not None
        conn = self._connection
        if conn is None and self._session is not None:
            conn = self._session.current_connection
        try:
            if conn is None:
                raise RuntimeError("no connection")
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            cursor = dbapi.cursor()
            try:
                cursor.execute("SELECT pg_current_wal_lsn()::text")
                row = cursor.fetchone()
            finally:
                cursor.close()
            if row is None:
                raise RuntimeError("no LSN")
            self.replica.wrote(self.principal_key, lsn_value(row[0]))
        except Exception:
            log.warning("commit LSN unknown; reads stay on the primary a while", exc_info=True)
            self.replica.pin(self.principal_key)

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
        elif self._connection is not None:
            self._connection.rollback()
        self.audit.discard()

    def invalidate_after_commit(self, cache: str, key: object = None) -> None:
        """Drop a cached value once this unit of work commits (never on rollback)."""
        caches = self.caches
        if caches is not None and caches.get(cache) is not None:
            self.on_commit(lambda: caches.invalidate(cache, key))

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed (never after a rollback)."""
        self._on_commit.append(callback)

    @contextmanager
    def savepoint(self) -> Iterator[SessionTransaction]:
        """A nested transaction: an exception inside rolls back to here and propagates, and
        the audit entries of what it had flushed go with it."""
        before = self.audit.snapshot()
        try:
            with self.session.begin_nested() as nested:
                yield nested
        except BaseException:
            self.audit.restore(before)
            raise

    def mark(self, obj: Base, action: str) -> None:
        """Name the audit action of this entity's change (kill, resume, settle, void)."""
        self.audit.hint(obj, action)

    # -- retries -----------------------------------------------------------------------------

    def run(self, work: Callable[Concatenate[Self, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(uow, ...)` in a fresh transaction; retry the whole of it on 40001/40P01."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self:
                    return work(self, *args, **kwargs)
            except DBAPIError as exc:
                refused = key_error(exc)
                if refused is not None:
                    raise refused from exc
                replica_lost = self._on_replica and exc.connection_invalidated
                if replica_lost and self.replica is not None:
                    # The replica died under this read (which wrote nothing: it may always run
                    # again): the retry, and the next reads until the router sees the replica
                    # again, go to the primary.
                    self.replica.failed()
                again = replica_lost or retryable(exc, began=self._first_done)
                if attempt == MAX_ATTEMPTS or not again:
                    raise
                log.info(
                    "retrying unit of work", extra={"attempt": attempt, "sqlstate": sqlstate(exc)}
                )
                pause_before_retry(attempt)
        raise AssertionError("unreachable")
