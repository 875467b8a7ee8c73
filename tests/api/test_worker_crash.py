"""The worker as deployed (`python -m backend.scripts.worker`, a process of its own) killed
with SIGKILL in the middle of its work, three times: nothing is lost, duplicates carry the same
`webhook-id`, every signature verifies. And SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from backend.scripts.localdb import PROJECT_ROOT
from tests.helpers import make_tenant
from tests.webhook_events import insert_events
from tests.webhook_receiver import receiver
from tests.worker_helpers import wait_until

EVENTS = 200


def _env(database_url: URL) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "APP_ENV": "test",
        "JOB_LEASE_S": "1.5",
        "JOB_POLL_S": "0.2",
        "JOB_BATCH": "10",
        "WEBHOOK_TIMEOUT_S": "1",
        "WEBHOOK_RETRY_BASE_S": "0.05",
        "WEBHOOK_RETRY_MAX_S": "0.2",
        "IDEMPOTENCY_PURGE_EVERY_S": "0",
        "ANALYTICS_RECOMPUTE_EVERY_S": "0",
        "EVENT_DISPATCH_BATCH": "50",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def spawn(database_url: URL) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.scripts.worker"],
            cwd=PROJECT_ROOT,
            env=_env(database_url),
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:  # only the processes this test started, by their PID
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_killed_workers_lose_nothing_and_duplicates_share_their_webhook_id(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, spawn: Any
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    with receiver() as hook:
        created = client.post("/v1/webhooks", json={"url": hook.url}, headers=headers).json()
        hook.secret = created["secret"]
        events = insert_events(raw_engine, tenant["id"], EVENTS)
        for kill_at in (40, 90, 140):
            worker = spawn()

            # Killed while its request is at the receiver, before the answer: it sent the
            # delivery but never recorded it, and its claimed batch is still leased to it.
            def kill(count: int, at: int = kill_at, pid: int = worker.pid) -> None:
                if count == at:
                    os.kill(pid, signal.SIGKILL)

            hook.on_request = kill
            assert worker.wait(30) == -signal.SIGKILL
        hook.on_request = None
        survivor = spawn()

        def all_succeeded() -> bool:
            with raw_engine.connect() as conn:
                return (
                    conn.execute(
                        text(
                            "SELECT count(*) FROM webhook_deliveries "
                            "WHERE endpoint_id = :id AND status = 'succeeded'"
                        ),
                        {"id": created["id"]},
                    ).scalar()
                    == EVENTS
                )

        wait_until(all_succeeded, timeout=40)
        os.kill(survivor.pid, signal.SIGTERM)
        assert survivor.wait(15) == 0

    by_event: dict[int, set[str]] = defaultdict(set)
    for request in hook.requests:
        by_event[request.body["data"]["event_id"]].add(request.headers["webhook-id"])
    assert set(by_event) == set(events)  # every event delivered at least once
    assert all(len(ids) == 1 for ids in by_event.values())  # a duplicate has the same id
    assert all(r.verified for r in hook.requests)
    # The three requests answered to dead workers were sent again, under the same id.
    assert len(hook.requests) >= EVENTS + 3
    sent = Counter(r.body["data"]["event_id"] for r in hook.requests)
    assert len([n for n in sent.values() if n > 1]) >= 3
    with raw_engine.connect() as conn:
        left = conn.execute(
            text("""
                SELECT d.status AS delivery, j.status AS job, count(*) AS n
                  FROM webhook_deliveries d
                  JOIN jobs j ON j.unique_key = 'webhook.deliver:' || d.id
                 WHERE d.endpoint_id = :id
                 GROUP BY 1, 2
            """),
            {"id": created["id"]},
        ).all()
    assert [(r.delivery, r.job, r.n) for r in left] == [("succeeded", "done", EVENTS)]


def test_sigterm_lets_the_worker_stop_cleanly(spawn: Any, raw_engine: Engine) -> None:
    def listeners() -> int:
        with raw_engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name LIKE '%-worker-listen'"
                )
            ).scalar_one()
        return int(found)

    before = listeners()
    worker = spawn()
    # Running (its LISTEN connection open), not still importing: a SIGTERM before Python has
    # started is the default action, not the worker's.
    wait_until(lambda: listeners() > before or worker.poll() is not None, timeout=60)
    assert worker.poll() is None
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(10) == 0
