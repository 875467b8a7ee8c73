"""Application settings: one validated `Settings`, read from the environment and `.env`."""

from __future__ import annotations

import sys
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


PositiveMs = Annotated[int, Field(ge=0, le=86_400_000)]


class Settings(BaseSettings):
    """Every setting of the service; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    app_env: AppEnv = AppEnv.development

    # Database: DATABASE_URL wins over the parts.
    database_url: SecretStr | None = None
    # A streaming replica for the routes that may read from one (README, Read replicas); its
    # replay position is polled every REPLICA_POLL_MS.
    database_replica_url: SecretStr | None = None
    replica_poll_ms: int = Field(default=100, ge=10, le=10_000)
    db_host: str = "127.0.0.1"
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_user: str = "postgres"
    db_password: SecretStr = SecretStr("")
    db_name: str = "oddsdesk"

    # Sized together with the threadpool that runs sync routes (http_threads): a request holds
    # at most one pooled connection, so with as many threads as steady connections no request
    # waits for a connection and none is opened and closed per request (overflow is headroom
    # for work beside requests: health pings, the leaderboard refresh after a settlement).
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=5, ge=0, le=1000)
    db_pool_timeout: float = Field(default=30.0, gt=0, le=3600)
    db_pool_recycle: int = Field(default=3600, ge=-1)
    db_pool_pre_ping: bool = True
    db_connect_timeout: int = Field(default=5, ge=1, le=300)
    db_statement_timeout_ms: PositiveMs = 30_000
    db_lock_timeout_ms: PositiveMs = 5_000
    db_slow_query_ms: PositiveMs = 500
    db_echo: bool = False
    db_application_name: str = Field(default="oddsdesk", min_length=1, max_length=63)
    # The role the app runs as (set when each connection opens): row-level security applies
    # to it. Created by the migrations. Empty: run as the login user (not recommended).
    # Send the role and timeouts as libpq start-up options (every connection, from its first
    # statement). Off behind a pooler that refuses them (PgBouncer in transaction mode): each
    # unit of work's transaction then sets the timeouts itself. The role is set per
    # transaction either way.
    db_startup_options: bool = True
    db_app_role: str = Field(default="oddsdesk_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$|^$")
    # Hot statements prepared once per connection (off behind a transaction-mode pooler).
    db_prepared_statements: bool = True
    # Round trips saved by the connection layer (backend/core/transaction.py): BEGIN with a
    # transaction's first statement, COMMIT with its staged rows, read-only units as
    # autocommit statements. False: plain SQLAlchemy/psycopg2 transactions (BEGIN, COMMIT and
    # ROLLBACK each a round trip of its own), with the same guarantees.
    db_pipeline: bool = True

    # Query cache of reference data (teams, bookmakers, API keys) and its invalidation bus.
    cache_ttl_s: float = Field(default=30.0, ge=0, le=86_400)
    cache_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    redis_url: str | None = None
    # Listen for PostgreSQL's announcements of changed cached rows (off where LISTEN cannot
    # work, such as behind a transaction-mode pooler).
    cache_listen: bool = True

    # Wake long-polling readers of GET /v1/events by LISTEN on `oddsdesk_events` (one
    # connection of its own per worker); off: they read again every second while waiting.
    events_listen: bool = True

    # Unknown API keys are remembered this long, so a flood of one bad key costs no lookups.
    cache_unknown_key_ttl_s: float = Field(default=5.0, ge=0, le=3600)

    # Per-API-key rate limit of tenant keys (token bucket), unless the tenant sets its own:
    # requests a second (0: unlimited) and the burst above it (0: one second's worth). Shared
    # by every worker through Redis when REDIS_URL is set, else per worker.
    rate_limit_per_s: float = Field(default=0.0, ge=0, le=1_000_000)
    rate_limit_burst: int = Field(default=0, ge=0, le=10_000_000)

    # Price guard of POST /v1/bets: a bet whose price beats the bookmaker's latest snapshot of
    # the selection by more than this share (0.02 = 2%) is 409 price-changed, unless the
    # strategy sets its own price_tolerance. 0: never above the latest price.
    bet_price_tolerance: Decimal = Field(default=Decimal("0.02"), ge=0, le=1, decimal_places=4)

    # The worker (python -m backend.scripts.worker): the job queue, the events' fan-out into
    # webhook deliveries, and the deliveries themselves.
    # `make run` (backend/scripts/serve.py) starts one worker beside the server unless false.
    worker_with_server: bool = True
    # A claimed job is its worker's for this long; past it another worker may claim it (so
    # a killed worker's jobs come back). Longer than any job runs (WEBHOOK_TIMEOUT_S).
    job_lease_s: float = Field(default=60.0, ge=1, le=86_400)
    # Longest sleep between looks at the queue when no NOTIFY wakes the worker.
    job_poll_s: float = Field(default=1.0, gt=0, le=3600)
    job_batch: int = Field(default=10, ge=1, le=1000)  # jobs claimed at once
    job_max_attempts: int = Field(default=5, ge=1, le=1000)
    # A failed job waits a random time in [0, min(max, base * 2**(attempt - 1))] (full jitter).
    job_retry_base_s: float = Field(default=1.0, ge=0, le=86_400)
    job_retry_max_s: float = Field(default=300.0, ge=0, le=86_400)
    event_dispatch_batch: int = Field(default=500, ge=1, le=100_000)  # events per fan-out
    # Periodic jobs, scheduled once however many workers run (0: never).
    idempotency_purge_every_s: int = Field(default=3600, ge=0, le=10_000_000)
    analytics_recompute_every_s: int = Field(default=86_400, ge=0, le=10_000_000)
    # Finished (done or dead) jobs are deleted this long after they finished, hourly (0: kept).
    job_retention_s: int = Field(default=604_800, ge=0, le=1_000_000_000)
    # Webhook delivery: the HTTP timeout of one attempt, how many attempts (then `dead`), the
    # backoff between them (full jitter, as for jobs), and after how many failed attempts in a
    # row (no success between) an endpoint is disabled.
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_retry_base_s: float = Field(default=5.0, ge=0, le=86_400)
    webhook_retry_max_s: float = Field(default=3600.0, ge=0, le=86_400)
    webhook_disable_after_failures: int = Field(default=50, ge=1, le=1_000_000)
    # May a webhook be sent to a loopback, private, link-local or otherwise non-public
    # address (the host's own services, the cloud metadata endpoint...)? None: yes, except
    # with APP_ENV=production.
    webhook_private_targets: bool | None = None

    # Required to serve the API (checked at app start-up); migrations and scripts run without it.
    admin_api_key: SecretStr | None = None
    # The key that signs pagination cursors (HMAC-SHA256), so a client cannot forge one.
    # Required to serve, like the admin key (`make run` generates one into .env). Rotation:
    # move the old value to CURSOR_SECRET_PREVIOUS; cursors signed with it stay valid.
    cursor_secret: SecretStr | None = None
    cursor_secret_previous: SecretStr | None = None

    # Threads that run sync routes (each holds at most one pooled connection). None: as many
    # as DB_POOL_SIZE, so requests never queue for, nor churn, database connections.
    http_threads: int | None = Field(default=None, ge=1, le=1000)
    # HTTP server limits (per worker) against broken and hostile clients.
    http_max_header_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)
    http_max_headers: int = Field(default=100, ge=10, le=10_000)
    http_header_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    http_body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    http_keepalive_timeout_s: float = Field(default=5.0, gt=0, le=3600)
    http_max_connections: int = Field(default=1_000, ge=1, le=1_000_000)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_format: LogFormat = LogFormat.text

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _parse_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError("not a database URL (postgresql://user:pass@host:port/db)") from None
        if url.get_backend_name() not in ("postgresql", "postgres"):
            raise ValueError("only postgresql:// URLs are supported")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_delivery(self) -> Self:
        # A lease shorter than one HTTP attempt would let a second worker send a delivery
        # that is still in flight.
        if self.job_lease_s <= self.webhook_timeout_s:
            raise ValueError("JOB_LEASE_S must be longer than WEBHOOK_TIMEOUT_S")
        return self

    @model_validator(mode="after")
    def _production_guards(self) -> Self:
        key = self.admin_api_key.get_secret_value() if self.admin_api_key else ""
        if self.admin_api_key is not None and not key.strip():
            raise ValueError("ADMIN_API_KEY must not be empty")
        if self.app_env is AppEnv.production:
            if len(key) < 32:
                raise ValueError("ADMIN_API_KEY must be at least 32 characters in production")
            if not self.sqlalchemy_url.password:
                raise ValueError(
                    "the database password (DB_PASSWORD or in DATABASE_URL) must not be "
                    "empty in production"
                )
        return self

    @property
    def sqlalchemy_url(self) -> URL:
        """The database URL, always with the psycopg2 driver."""
        if self.database_url is not None:
            url = make_url(self.database_url.get_secret_value())
        else:
            url = URL.create(
                "postgresql+psycopg2",
                username=self.db_user,
                password=self.db_password.get_secret_value() or None,
                host=self.db_host,
                port=self.db_port,
                database=self.db_name,
            )
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg2")
        return url

    @property
    def webhooks_may_reach_private_addresses(self) -> bool:
        if self.webhook_private_targets is not None:
            return self.webhook_private_targets
        return self.app_env is not AppEnv.production

    @property
    def threads(self) -> int:
        """Threads for sync routes: HTTP_THREADS, else DB_POOL_SIZE."""
        return self.http_threads or self.db_pool_size

    def require_cursor_secret(self) -> list[bytes]:
        """The cursor signing keys, current first; the API refuses to start without one."""
        if self.cursor_secret is None or not self.cursor_secret.get_secret_value().strip():
            raise SystemExit(
                "invalid configuration:\n  CURSOR_SECRET: required to serve the API "
                "(`make run` generates one into .env)"
            )
        keys = [self.cursor_secret.get_secret_value().encode()]
        if self.cursor_secret_previous is not None:
            previous = self.cursor_secret_previous.get_secret_value().strip()
            if previous:
                keys.append(previous.encode())
        return keys

    def require_admin_key(self) -> str:
        """The admin key; the API refuses to start without one."""
        if self.admin_api_key is None:
            raise SystemExit(
                "invalid configuration:\n  ADMIN_API_KEY: required to serve the API "
                "(`make run` generates one into .env)"
            )
        return self.admin_api_key.get_secret_value()


def format_validation_error(exc: ValidationError) -> str:
    """One line per invalid setting, naming the environment variable."""
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]).upper() or "settings"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {msg}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings() -> Settings:
    """Build settings, or stop the program with a message naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        print(format_validation_error(exc), file=sys.stderr)
        raise SystemExit(2) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
