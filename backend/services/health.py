"""One health report for every reader: /health/ready, /v1/admin/pool and pool_check."""

from __future__ import annotations

from typing import Any

from backend.core.database import Database


def readiness(db: Database) -> tuple[bool, dict[str, Any]]:
    """`SELECT 1` through the pool (bounded to 2 s) with its latency, and the pool's state."""
    ok, report = diagnostics(db)
    database = report["database"]
    report["database"] = {"ok": database["ok"], "latency_ms": database["latency_ms"]}
    return ok, report


def diagnostics(db: Database) -> tuple[bool, dict[str, Any]]:
    """The readiness report plus what an operator wants on a terminal (pool_check)."""
    ping = db.ping()
    url = db.engine.url
    return ping["ok"], {
        "status": "ok" if ping["ok"] else "unavailable",
        "database": {
            "ok": ping["ok"],
            "latency_ms": ping["latency_ms"],
            "server_version": ping["server_version"],
            "error": ping["error"],
            "target": f"{url.host or 'local socket'}:{url.port or 5432}/{url.database}",
        },
        "pool": dict(db.pool_status()),
    }
