"""The cache invalidation listener loses its connection (server restart, killed backend):
the worker stops trusting its caches at once, reconnects alone, drops what it cached (it may
have missed announcements) and is current again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.api.app import create_app
from backend.core.config import Settings
from backend.core.database import create_database
from tests.helpers import make_team, make_tenant


def _until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_killed_listener_reconnects_and_its_worker_never_serves_a_missed_change(
    settings: Settings,
    client: TestClient,
    admin_headers: dict[str, str],
    raw_engine: Engine,
) -> None:
    db = create_database(settings)
    try:
        with TestClient(create_app(settings, db), raise_server_exceptions=False) as worker:
            caches: Any = worker.app.state.caches  # type: ignore[attr-defined]
            listener = caches.listener  # started with the app
            assert _until(lambda: caches.current)
            pid = listener.backend_pid
            _, headers = make_tenant(client, admin_headers)
            team = make_team(client, admin_headers, league="Before")
            url = f"/v1/teams/{team['id']}"
            assert worker.get(url, headers=headers).json()["league"] == "Before"  # cached

            with raw_engine.begin() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                # Changed while nobody listens for this worker: no announcement reaches it.
                conn.execute(
                    text("UPDATE teams SET league = 'After' WHERE id = :i"), {"i": team["id"]}
                )

            assert _until(lambda: listener.connects == 2 and caches.current)
            assert listener.backend_pid != pid
            # Dropped on reconnecting: the change is served, not the cached row.
            assert worker.get(url, headers=headers).json()["league"] == "After"
            assert caches.describe()["listener"]["current"] is True
            assert "oddsdesk_cache_invalidation_current 1.0" in worker.get("/metrics").text
    finally:
        db.dispose()
