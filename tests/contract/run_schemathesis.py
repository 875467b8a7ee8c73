"""`make fuzz`: schemathesis against the running app's OpenAPI, as admin and as a tenant.

A fresh database (same server choice as the tests), the app on a free loopback port, a fixed
seed and a bounded number of examples per operation so CI stays fast. Every check schemathesis
has (`--checks all`: no 5xx, bodies, headers, status codes and content types as documented,
valid data accepted, invalid data rejected, missing required headers refused, unsupported
methods answered 405 with a full Allow, auth not ignored, ...), on positive and negative data
(`--mode all`), through all four phases: the documented examples, the coverage of each
schema's boundaries, random fuzzing and stateful sequences.

The few rules the document cannot state (a cursor must be one the server issued, two teams
must differ, ...) are listed with their reasons in tests/contract/schemathesis.toml and
tests/contract/hooks.py; nothing else is excused.

FUZZ_EXAMPLES sets the examples per operation (default 100); FUZZ_ARGS adds arguments to
both runs (e.g. "--continue-on-failure" to list every failure, not the first per operation).
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
PHASES = "examples,coverage,fuzzing,stateful"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from backend.scripts import localdb, migrate
    from tests.conftest import _resolve_server

    server_url, embedded = _resolve_server()
    name = f"oddsdesk_fuzz_{uuid.uuid4().hex[:10]}"
    localdb.ensure_database(server_url, name)
    url = localdb.with_database(server_url, name)
    admin = "fuzz-admin-" + secrets.token_hex(16)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = None
    try:
        migrate.upgrade(url)
        env = {
            **os.environ,
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "ADMIN_API_KEY": admin,
            "CURSOR_SECRET": secrets.token_urlsafe(32),
            "LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "backend.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        tenant = httpx.post(
            f"{base}/v1/admin/tenants",
            json={"name": "Fuzz Fund"},
            headers={"Authorization": f"Bearer {admin}"},
        ).json()
        failed = 0
        started = time.monotonic()
        for who, key in (("admin", admin), ("tenant", tenant["api_key"]["key"])):
            print(f"== schemathesis as {who}", flush=True)
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "--config-file",
                    str(CONFIG),
                    "run",
                    f"{base}/openapi.json",
                    "-H",
                    f"Authorization: Bearer {key}",
                    "--checks",
                    "all",
                    "--mode",
                    "all",
                    "--phases",
                    PHASES,
                    "--max-examples",
                    os.environ.get("FUZZ_EXAMPLES", "100"),
                    "--seed",
                    "1",
                    "--workers",
                    "1",
                    *shlex.split(os.environ.get("FUZZ_ARGS", "")),
                ],
                cwd=ROOT,
                check=False,
            )
            failed += result.returncode != 0
        print(f"== schemathesis: both runs in {time.monotonic() - started:.0f} s", flush=True)
        return 1 if failed else 0
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        localdb.drop_database(server_url, name)
        if embedded is not None and embedded.started_here:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
