"""Prometheus metrics of the process (prometheus-client). Served at GET /metrics.

Labels use route templates (`/v1/teams/{team_id}`), never raw paths, so cardinality stays
bounded. Each worker process serves its own numbers.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Which worker process answered this scrape: with --workers N, each serves its own numbers,
# and a scraper (or an operator) tells them apart by this label.
WORKER = Gauge(
    "oddsdesk_worker_info", "The worker process serving these metrics", ["pid"], registry=REGISTRY
)


def mark_worker() -> None:
    """Label this process's metrics with its pid (called where the app is built, in each
    worker process)."""
    WORKER.labels(pid=str(os.getpid())).set(1)


HTTP_REQUESTS = Counter(
    "oddsdesk_http_requests_total",
    "HTTP requests answered",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "oddsdesk_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
POOL_SIZE = Gauge("oddsdesk_db_pool_size", "Connections the pool keeps", registry=REGISTRY)
POOL_CHECKED_OUT = Gauge("oddsdesk_db_pool_checked_out", "Connections in use", registry=REGISTRY)
POOL_CHECKED_IN = Gauge(
    "oddsdesk_db_pool_checked_in", "Idle connections in the pool", registry=REGISTRY
)
POOL_OVERFLOW = Gauge(
    "oddsdesk_db_pool_overflow", "Connections open beyond the pool size", registry=REGISTRY
)
DB_ERRORS = Counter(
    "oddsdesk_db_errors_total",
    "Database failures answered as 503, by kind",
    ["kind"],
    registry=REGISTRY,
)
SLOW_STATEMENTS = Counter(
    "oddsdesk_db_slow_statements_total",
    "Statements slower than DB_SLOW_QUERY_MS",
    registry=REGISTRY,
)
CACHE_EVENTS = Counter(
    "oddsdesk_cache_events_total",
    "Query cache hits, misses, evictions and invalidations",
    ["cache", "event"],
    registry=REGISTRY,
)
CACHE_LISTENER_CURRENT = Gauge(
    "oddsdesk_cache_invalidation_current",
    "1 while the worker's invalidation listener is current (see README, Query cache), else 0",
    registry=REGISTRY,
)
