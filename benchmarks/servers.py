"""The servers a benchmark loads: the project (this tree, or another commit's in a temporary
git worktree), and the floor.

The project is started the way an operator starts it, `python -m backend.scripts.serve
--serve-only --port P --workers N`, with its DEFAULT settings: the environment it gets has
every setting of backend.core.config.Settings removed except DATABASE_URL, ADMIN_API_KEY and
CURSOR_SECRET (so LOG_LEVEL is the default INFO: one access-log line per request, into the
server's log file), and it runs in an empty directory (no `.env` to read).
The source tree comes first on PYTHONPATH, so a worktree's `backend` is the one imported
(the venv's editable install of this tree is only found after it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from backend.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
# Every variable the settings read (pydantic-settings is case-insensitive), and serve.py's PORT.
SETTINGS_ENV = {name.upper() for name in Settings.model_fields} | {"PORT"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_ENV}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


@dataclass
class Running:
    label: str
    proc: subprocess.Popen[bytes]
    port: int
    workers: int
    workdir: Path
    log: Path
    command: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(server: Running, probe_path: str, headers: dict[str, str], timeout: float) -> None:
    """Until `probe_path` answers (every worker: several answers in a row on fresh
    connections, which the kernel spreads over the workers' accept calls)."""
    deadline = time.monotonic() + timeout
    good = 0
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.label} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            status = httpx.get(server.base + probe_path, headers=headers, timeout=5).status_code
        except httpx.HTTPError:
            status = 0
        good = good + 1 if status < 500 and status != 0 else 0
        if good >= 4 * server.workers:
            return
        time.sleep(0.05 if good else 0.2)
    server.stop()
    raise RuntimeError(f"{server.label} did not start:\n{server.log_tail()}")


def supports_serve_flags(source: Path) -> bool:
    """Whether that tree's serve.py has --serve-only and --workers (added in 3b0f4d4)."""
    try:
        text = (source / "backend" / "scripts" / "serve.py").read_text()
    except OSError:
        return False
    return "--serve-only" in text and "--workers" in text


def start_project(
    label: str,
    source: Path,
    database_url: str,
    admin_key: str,
    cursor_secret: str,
    workers: int,
    probe_path: str,
    headers: dict[str, str],
) -> Running:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"oddsdesk-bench-{label}-"))
    log = workdir / "server.log"
    if supports_serve_flags(source):
        command = [
            sys.executable,
            "-m",
            "backend.scripts.serve",
            "--serve-only",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    else:  # an older tree: its app under plain uvicorn, as its own bench did
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "backend.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    env = clean_env(
        {
            "DATABASE_URL": database_url,
            "ADMIN_API_KEY": admin_key,
            "CURSOR_SECRET": cursor_secret,
            "PYTHONPATH": str(source),
        }
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    server = Running(label, proc, port, workers, workdir, log, command)
    _wait_ready(server, probe_path, headers, timeout=60)
    return server


def start_floor(
    env: dict[str, str], workers: int, probe_path: str, headers: dict[str, str]
) -> Running:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="oddsdesk-bench-floor-"))
    log = workdir / "server.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.floor:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    full_env = clean_env({**env, "PYTHONPATH": str(ROOT)})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=full_env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
    server = Running("floor", proc, port, workers, workdir, log, command)
    _wait_ready(server, probe_path, headers, timeout=60)
    return server


class Worktree:
    """`git worktree add --detach` of a commit into a temporary directory; removed on close."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.parent = Path(tempfile.mkdtemp(prefix="oddsdesk-compare-"))
        self.path = self.parent / "src"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(self.path), self.commit],
            capture_output=True,
            text=True,
            check=True,
        )

    def describe(self) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", self.commit],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()[:100]

    def migrations_differ(self) -> list[str]:
        """Migration files one tree has and the other not (the database is migrated to this
        tree's head)."""
        ours = {p.name for p in (ROOT / "backend" / "alembic" / "versions").glob("*.py")}
        theirs = {p.name for p in (self.path / "backend" / "alembic" / "versions").glob("*.py")}
        return sorted(ours ^ theirs)

    def close(self) -> None:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(self.path)],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.parent, ignore_errors=True)


def stop_all(servers: list[Any]) -> None:
    for server in servers:
        try:
            server.stop()
        except Exception as exc:
            print(f"! stopping {server.label}: {exc}", file=sys.stderr)
