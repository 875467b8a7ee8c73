"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from backend.api.auth import KeyResolver
from backend.api.head import HeadAsGet
from backend.api.middleware import RequestContextMiddleware
from backend.api.openapi import install_openapi
from backend.api.problems import install_problem_handlers
from backend.api.route_order import order_routes
from backend.api.routes import (
    admin,
    analytics,
    audit,
    backtests,
    bets,
    bookmakers,
    events,
    health,
    matches,
    odds,
    strategies,
    teams,
    webhooks,
)
from backend.core.cache import Caches
from backend.core.config import Settings, get_settings
from backend.core.database import Database, create_database
from backend.core.engine import direct_connection
from backend.core.event_notifier import EventNotifier
from backend.core.logging import configure_logging
from backend.core.metrics import mark_worker
from backend.core.ratelimit import RateLimiter
from backend.repositories.cursor import use_keys
from backend.services.auth import DatabaseKeyResolver

DESCRIPTION = """
Backend of a sports-betting desk: bookmaker odds, strategies with their own bankrolls,
bets, settlement and closing-line value. Authenticate with `Authorization: Bearer <key>`.
Errors are RFC 9457 `application/problem+json`.
"""


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    key_resolver: KeyResolver | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    admin_key = settings.require_admin_key()
    use_keys(settings.require_cursor_secret())
    configure_logging(settings.log_level, settings.log_format.value)
    database = db or create_database(settings)

    caches = Caches(
        settings.cache_max_entries,
        settings.cache_ttl_s,
        settings.redis_url,
        unknown_key_ttl_s=settings.cache_unknown_key_ttl_s,
    )

    limiter = RateLimiter(settings.redis_url)
    notifier = EventNotifier(
        (lambda: direct_connection(settings, "events")) if settings.events_listen else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in AnyIO's threadpool (40 threads by default). Each holds at most one
        # pooled connection, so more threads than the pool keeps would make requests wait for
        # overflow connections that are opened and closed per request: bound the two together.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        if settings.cache_listen:
            caches.listen(lambda: direct_connection(settings, "invalidations"))
        notifier.start()
        yield
        notifier.close()
        await limiter.close()
        caches.close()
        database.dispose()

    app = FastAPI(
        # Observability is the app's own (Prometheus /metrics, JSON access logs): FastAPI's
        # native OpenTelemetry (on releases that have it) stays off. Older releases keep an
        # unknown keyword in `app.extra`.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="oddsdesk",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    mark_worker()
    app.state.db = database
    app.state.admin_key = admin_key
    app.state.caches = caches
    app.state.key_resolver = key_resolver or DatabaseKeyResolver(
        database.engine, caches, settings.rate_limit_per_s, settings.rate_limit_burst
    )
    app.state.rate_limiter = limiter
    app.state.event_notifier = notifier

    install_problem_handlers(app)
    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestContextMiddleware)
    for module in (
        odds,
        bets,
        matches,
        strategies,
        analytics,
        audit,
        teams,
        bookmakers,
        events,
        webhooks,
        backtests,
        admin,
        health,
    ):
        # Each module's routes already carry their full path, tags and route class. Adding
        # them to the app's own router keeps request matching a flat scan (nested included
        # routers cost most of a millisecond of CPU per request on this FastAPI).
        app.router.routes.extend(module.router.routes)
    order_routes(app.router.routes)
    install_openapi(app)
    return app
