"""`python -m backend.scripts.serve --workers 2`, the real uvicorn supervisor and its worker
processes on one loopback port, against the test database: every request on a fresh
connection (so the kernel spreads them over the workers), and what must hold across workers:
a change seen by every worker's cache, one rate-limit bucket per key through Redis, a
long-poll woken by a write another worker made, and metrics labelled by their worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL

from backend.scripts.localdb import PROJECT_ROOT
from tests.conftest import ADMIN_KEY, CURSOR_SECRET
from tests.helpers import REDIS_URL, free_port, make_strategy, make_team, redis_up, unique

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


class Fresh:
    """An HTTP client that opens a new connection for every request."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            return client.request(method, path, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)


@pytest.fixture(scope="module")
def served(database_url: URL) -> Iterator[Fresh]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "ADMIN_API_KEY": ADMIN_KEY,
        "CURSOR_SECRET": CURSOR_SECRET,
        "LOG_LEVEL": "WARNING",
        "WORKER_WITH_SERVER": "false",  # no background worker process here
    }
    if redis_up():
        env["REDIS_URL"] = REDIS_URL
    command = [sys.executable, "-m", "backend.scripts.serve", "--serve-only"]
    # stderr to a file, never to a pipe nobody drains (a full one blocks the server)
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [*command, "--workers", "2", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        client = Fresh(f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (
                        client.get("/health/ready").status_code == 200
                        and len(_workers(client)) == 2
                    ):
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    stderr.seek(0)
                    err = stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"the server did not start two workers: {err}")
                time.sleep(0.2)
            yield client
        finally:
            process.terminate()  # the supervisor we started; it stops its workers
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _workers(client: Fresh, tries: int = 40) -> set[str]:
    """The worker pids that answered `tries` scrapes of /metrics."""
    pids = set()
    for _ in range(tries):
        found = re.search(r'oddsdesk_worker_info\{pid="([0-9]+)"\}', client.get("/metrics").text)
        if found:
            pids.add(found[1])
    return pids


def test_two_workers_answer_and_label_their_metrics(served: Fresh) -> None:
    pids = _workers(served)
    assert len(pids) == 2
    assert all(pid != str(os.getpid()) for pid in pids)


def test_a_change_reaches_every_workers_cache(served: Fresh) -> None:
    team = make_team(served, ADMIN, league="Before")  # type: ignore[arg-type]
    url = f"/v1/teams/{team['id']}"
    for _ in range(20):  # both workers cache it
        assert served.get(url, headers=ADMIN).json()["league"] == "Before"
    changed = served.patch(url, json={"league": "After"}, headers={**ADMIN, "If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    # Each worker drops it when the commit's NOTIFY arrives (milliseconds): give it a second,
    # then every answer, from either worker, is the new one.
    time.sleep(1)
    leagues = {served.get(url, headers=ADMIN).json()["league"] for _ in range(20)}
    assert leagues == {"After"}


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379 (CI has one)")
def test_a_keys_rate_limit_is_one_bucket_across_workers(served: Fresh) -> None:
    made = served.post("/v1/admin/tenants", json={"name": unique("Limited")}, headers=ADMIN)
    tenant = made.json()
    limit = served.put(
        f"/v1/admin/tenants/{tenant['id']}/rate-limit",
        json={"per_s": "0.001", "burst": 6},
        headers=ADMIN,
    )
    assert limit.status_code == 200, limit.text
    key = {"Authorization": f"Bearer {tenant['api_key']['key']}"}
    statuses = [served.get("/v1/strategies", headers=key).status_code for _ in range(12)]
    assert statuses == [200] * 6 + [429] * 6  # 6 in all, whichever worker answered


def test_a_long_poll_is_woken_by_a_write_on_any_worker(served: Fresh) -> None:
    made = served.post("/v1/admin/tenants", json={"name": unique("Feed")}, headers=ADMIN)
    key = {"Authorization": f"Bearer {made.json()['api_key']['key']}"}
    cursor = ""
    while True:
        page = served.get("/v1/events", params={"after": cursor}, headers=key).json()
        cursor = page["cursor"]
        if not page["items"]:
            break
    answers: list[Any] = []

    def poll() -> None:
        began = time.monotonic()
        response = served.get("/v1/events", params={"after": cursor, "wait": 15}, headers=key)
        answers.append((time.monotonic() - began, response.json()))

    pollers = [threading.Thread(target=poll) for _ in range(4)]  # over both workers
    for t in pollers:
        t.start()
    time.sleep(0.5)
    strategy = make_strategy(served, key)  # type: ignore[arg-type]
    for t in pollers:
        t.join()
    for elapsed, body in answers:
        assert [e["entity_id"] for e in body["items"]] == [strategy["id"]]
        assert elapsed < 5  # woken by the commit, not the 15 s timeout
