"""What `make run` starts (`backend.scripts.serve`): the server and a worker beside it, so a
webhook is delivered with nothing else running; both stop together on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from tests.conftest import ADMIN_KEY, CURSOR_SECRET
from tests.helpers import free_port, make_tenant
from tests.webhook_events import insert_events
from tests.webhook_receiver import receiver
from tests.worker_helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped by whoever adopted it, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _env(database_url: URL) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "ADMIN_API_KEY": ADMIN_KEY,
        "CURSOR_SECRET": CURSOR_SECRET,
        "APP_ENV": "test",
        "DB_POOL_SIZE": "2",
        "LOG_LEVEL": "WARNING",
        "WORKER_WITH_SERVER": "true",
        "JOB_POLL_S": "0.2",
        "IDEMPOTENCY_PURGE_EVERY_S": "0",
        "ANALYTICS_RECOMPUTE_EVERY_S": "0",
    }


def test_the_server_starts_and_stops_a_worker_that_delivers_webhooks(
    client: TestClient,
    admin_headers: dict[str, str],
    raw_engine: Engine,
    database_url: URL,
    tmp_path: Path,
) -> None:
    port = free_port()
    env = _env(database_url)
    out = tmp_path / "serve.log"
    command = [sys.executable, "-m", "backend.scripts.serve", "--serve-only", "--port", str(port)]
    with out.open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: re.search(r"Worker: +pid (\d+)", out.read_text()) is not None, 60)
        found = re.search(r"Worker: +pid (\d+)", out.read_text())
        assert found is not None
        worker_pid = int(found.group(1))

        def live() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2):
                    return True
            except OSError:
                return False

        wait_until(live, 60)
        tenant, headers = make_tenant(client, admin_headers)
        with receiver() as hook:
            created = client.post("/v1/webhooks", json={"url": hook.url}, headers=headers)
            hook.secret = created.json()["secret"]
            (event_id,) = insert_events(raw_engine, tenant["id"])
            wait_until(lambda: len(hook.delivered) == 1, 30)
        assert hook.delivered[0].verified
        assert hook.delivered[0].body["data"]["event_id"] == event_id
        assert _alive(worker_pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, out.read_text()
        assert not _alive(worker_pid)  # stopped (and reaped) with the server
    finally:
        if proc.poll() is None:  # only the process started here, by its handle
            proc.kill()
            proc.wait(15)


def test_a_worker_whose_server_was_killed_stops_by_itself(
    database_url: URL, tmp_path: Path
) -> None:
    """`make run` killed without a chance to stop its worker (SIGKILL, a crash): the worker
    notices it was left behind and stops on its own, as on SIGTERM."""
    out = tmp_path / "serve.log"
    command = [sys.executable, "-m", "backend.scripts.serve", "--serve-only"]
    command += ["--port", str(free_port())]
    worker_pid = None
    with out.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=_env(database_url), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: re.search(r"Worker: +pid (\d+)", out.read_text()) is not None, 60)
        found = re.search(r"Worker: +pid (\d+)", out.read_text())
        assert found is not None
        worker_pid = int(found.group(1))
        assert _alive(worker_pid)
        proc.kill()  # the server we started, by its handle: no chance to stop the worker
        proc.wait(15)
        wait_until(lambda: not _alive(worker_pid), 15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(15)
        if worker_pid is not None and _alive(worker_pid):  # the worker our server started
            os.kill(worker_pid, signal.SIGKILL)
