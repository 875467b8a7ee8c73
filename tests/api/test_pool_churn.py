"""With the default settings, many concurrent clients never churn database connections.

Sync routes run in AnyIO's threadpool; the app bounds it to what the pool keeps
(HTTP_THREADS, by default DB_POOL_SIZE), so no request has to open an overflow connection
that is closed again when it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from backend.core.config import Settings
from tests.helpers import make_strategy, make_tenant

DEFAULTS = Settings.model_fields


@pytest.fixture
def default_pool(settings: Settings) -> Settings:
    # The test session's settings, with the pool a user gets from .env.example.
    return settings.model_copy(
        update={
            "db_pool_size": DEFAULTS["db_pool_size"].default,
            "db_max_overflow": DEFAULTS["db_max_overflow"].default,
            "http_threads": None,
        }
    )


@pytest.fixture
def counted(default_pool: Settings) -> Iterator[tuple[TestClient, list[str]]]:
    from backend.api.app import create_app
    from backend.core.database import create_database

    db = create_database(default_pool)
    opened_closed: list[str] = []
    event.listen(db.engine, "connect", lambda *a: opened_closed.append("open"))
    event.listen(db.engine, "close", lambda *a: opened_closed.append("close"))
    try:
        with TestClient(create_app(default_pool, db), raise_server_exceptions=False) as client:
            yield client, opened_closed
    finally:
        db.dispose()


@pytest.mark.parametrize("clients", [8, 32])
def test_concurrent_clients_open_no_sessions_at_steady_state(
    counted: tuple[TestClient, list[str]], admin_headers: dict[str, str], clients: int
) -> None:
    client, sessions = counted
    _, headers = make_tenant(client, admin_headers)
    for _ in range(3):
        make_strategy(client, headers)

    def burst(_: Any) -> int:
        codes = [client.get("/v1/strategies", headers=headers).status_code for _ in range(15)]
        return sum(code == 200 for code in codes)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        for _ in range(4):
            assert sum(pool.map(burst, range(clients))) == clients * 15
    # The pool grows to at most its size and keeps what it opened: no overflow connection
    # opened for one request and closed after it (before the bound, 32 clients opened 13 and
    # closed some again every burst).
    assert sessions.count("open") <= DEFAULTS["db_pool_size"].default, sessions
    assert sessions.count("close") == 0, sessions
