"""`make bench`: each endpoint against its raw-psycopg2 floor, in the same run, as ratios.

Starts its own database (BENCH_DATABASE_URL's server, else 127.0.0.1:5432, else the embedded
one), loads a fixed data set, starts the project (uvicorn, one worker) and the floor server
(benchmarks/floor.py, same uvicorn settings), and loads both from a separate process (wrk) on
loopback with the same connections and duration, in alternating rounds. Prints a table and
writes benchmarks/results/latest.json. Figures are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from backend.core.logging import configure_logging
from backend.scripts import localdb, migrate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADMIN_KEY = "bench-admin-" + uuid.uuid4().hex
TENANT_KEY = "odk_bench_" + uuid.uuid4().hex
FLOOR_KEY = "floor-" + uuid.uuid4().hex
N_TEAMS, N_BOOKMAKERS, N_MATCHES, N_STRATEGIES = 10_000, 20, 5_000, 100


@dataclass
class Case:
    name: str
    target: float
    lua: str
    # Warm-up for both servers before each measurement: pools filled, code paths hot and, for
    # a read over a key space, every key visited once (the project's reference-data cache
    # and PostgreSQL's buffers both warm, so the round measures the steady state).
    warmup_lua: str | None = None
    warmup_s: int = 2


@dataclass
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us_per_request: float
    new_sessions: int
    db_cpu_us_per_request: float | None = None


@dataclass
class CaseResult:
    case: str
    target: float
    project: list[Measurement] = field(default_factory=list)
    floor: list[Measurement] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [p.rps / f.rps for p, f in zip(self.project, self.floor, strict=True) if f.rps]


# -- data set --------------------------------------------------------------------------------


def load_dataset(dsn: str) -> dict[str, Any]:
    """Teams, bookmakers, future matches, one tenant with strategies for each server."""
    tenant_id = str(uuid.uuid4())
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO teams (name, country, league, created_by, updated_by) "
            "SELECT 'Team ' || g, 'England', 'Bench League', 'bench', 'bench' "
            "FROM generate_series(1, %s) g",
            (N_TEAMS,),
        )
        cur.execute(
            "INSERT INTO bookmakers (name, is_sharp) SELECT 'Book ' || g, g = 1 "
            "FROM generate_series(1, %s) g",
            (N_BOOKMAKERS,),
        )
        cur.execute("SELECT min(id), max(id) FROM teams")
        first_team, last_team = cur.fetchone()
        cur.execute(
            "INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at) "
            "SELECT 'Bench League', '2035-36', %s + (g %% 5000), %s + 5000 + (g %% 5000), "
            "timestamptz '2035-08-01 12:00Z' + g * interval '1 hour' "
            "FROM generate_series(1, %s) g",
            (first_team, first_team, N_MATCHES),
        )
        cur.execute("SELECT min(id) FROM matches")
        (match_id,) = cur.fetchone()
        cur.execute("SELECT min(id) FROM bookmakers")
        (bookmaker_id,) = cur.fetchone()
        cur.execute("INSERT INTO tenants (id, name) VALUES (%s, 'Bench Fund')", (tenant_id,))
        cur.execute(
            "INSERT INTO api_keys (id, tenant_id, name, key_hash) VALUES (%s, %s, 'bench', %s)",
            (str(uuid.uuid4()), tenant_id, hashlib.sha256(TENANT_KEY.encode()).hexdigest()),
        )
        strategies: dict[str, list[str]] = {"project": [], "floor": []}
        for side in strategies:
            for i in range(N_STRATEGIES):
                sid = str(uuid.uuid4())
                strategies[side].append(sid)
                cur.execute(
                    "INSERT INTO strategies (id, tenant_id, name, bankroll, initial_bankroll, "
                    "max_stake) VALUES (%s, %s, %s, 1e10, 1e10, 100)",
                    (sid, tenant_id, f"{side} {i}"),
                )
    conn.close()
    return {
        "tenant_id": tenant_id,
        "teams": (first_team, last_team),
        "match_id": match_id,
        "bookmaker_id": bookmaker_id,
        "strategies": strategies,
    }


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(module: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            module,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{module} did not start")


def _ticks(stat: str) -> int:
    """User + system CPU clock ticks of a /proc/<pid>/stat line."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    return _ticks(Path(f"/proc/{pid}/stat").read_text()) / os.sysconf("SC_CLK_TCK")


def db_cpu_seconds() -> float | None:
    """CPU of every PostgreSQL process visible here (None when the server runs elsewhere).

    Pooled backends live through a measurement, so the difference is the database's work."""
    total, seen = 0, False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name.startswith(("postgres", "postmaster")):
            total += _ticks(stat)
            seen = True
    return total / os.sysconf("SC_CLK_TCK") if seen else None


def sessions(dsn: str) -> int:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        (count,) = cur.fetchone()
        if os.environ.get("BENCH_DEBUG_SESSIONS"):
            cur.execute(
                "SELECT application_name, backend_type, count(*), max(backend_start) "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "GROUP BY 1, 2"
            )
            print("   sessions:", count, cur.fetchall(), flush=True)
    conn.close()
    return int(count)


# -- load ------------------------------------------------------------------------------------

LUA_COMMON = """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
errors = 0
function response(status, headers, body)
  if status >= 300 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, '
    .. '"socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errs, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


def lua_get(path: str, key: str) -> str:
    return (
        LUA_COMMON
        + f"""
wrk.headers["Authorization"] = "Bearer {key}"
function request() return wrk.format("GET", {path}) end
"""
    )


def lua_walk(prefix: str, first: int, last: int, key: str) -> str:
    """GET prefix + id for every id in [first, last], split between wrk's two threads."""
    return (
        LUA_COMMON
        + f"""
wrk.headers["Authorization"] = "Bearer {key}"
local step = 0
function request()
  local id = {first} + ((tid - 1) + step * 2) % ({last - first + 1})
  step = step + 1
  return wrk.format("GET", "{prefix}" .. id)
end
"""
    )


def lua_bets(key: str, data: dict[str, Any], side: str, round_id: str) -> str:
    ids = ", ".join(f'"{s}"' for s in data["strategies"][side])
    return (
        LUA_COMMON
        + f"""
local strategies = {{{ids}}}
function request()
  counter = counter + 1
  local sid = strategies[math.random(#strategies)]
  local body = '{{"strategy_id": "' .. sid .. '", "match_id": {data["match_id"]}, '
    .. '"bookmaker_id": {data["bookmaker_id"]}, "market": "1x2", "selection": "home", '
    .. '"stake": "1.00", "price": "2.150"}}'
  return wrk.format("POST", "/v1/bets", {{
    ["Authorization"] = "Bearer {key}",
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "{round_id}-__RUN__-" .. tid .. "-" .. counter,
  }}, body)
end
"""
    )


def run_wrk(port: int, script: str, duration: int, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        # Every run its own idempotency keys: a warm-up must not turn into replays.
        handle.write(script.replace("__RUN__", uuid.uuid4().hex[:12]))
        path = handle.name
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                path,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(path)
    line = next(li for li in out.splitlines() if li.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return result


def measure(
    proc: subprocess.Popen[bytes],
    port: int,
    case: Case,
    dsn: str,
    duration: int,
    connections: int,
) -> Measurement:
    script = case.lua
    run_wrk(port, case.warmup_lua or script, case.warmup_s, connections)  # see Case
    cpu0, sessions0 = cpu_seconds(proc.pid), sessions(dsn)
    db0 = db_cpu_seconds()
    raw = run_wrk(port, script, duration, connections)
    cpu1, db1 = cpu_seconds(proc.pid), db_cpu_seconds()
    sessions1 = sessions(dsn) - 1  # minus our own probe
    if os.environ.get("BENCH_DEBUG_SESSIONS"):
        import httpx

        pool = httpx.get(
            f"http://127.0.0.1:{port}/v1/admin/pool",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        print("   pool:", pool.status_code, pool.text[:200], flush=True)
    requests = max(1, raw["requests"])
    return Measurement(
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=raw["errors"] + raw["socket_errors"],
        requests=raw["requests"],
        cpu_us_per_request=(cpu1 - cpu0) * 1e6 / requests,
        new_sessions=sessions1 - sessions0,
        db_cpu_us_per_request=(
            (db1 - db0) * 1e6 / requests if db0 is not None and db1 is not None else None
        ),
    )


# -- main ------------------------------------------------------------------------------------


def cases(data: dict[str, Any], round_id: str, side: str) -> dict[str, Case]:
    key = TENANT_KEY if side == "project" else FLOOR_KEY
    first, last = data["teams"]
    team_path = f'"/v1/teams/" .. math.random({first}, {last})'
    return {
        "get_team": Case(
            "GET /v1/teams/{id}",
            0.6,
            lua_get(team_path, key),
            # 10,000 ids at >= 1,500 req/s: every one visited.
            warmup_lua=lua_walk("/v1/teams/", first, last, key),
            warmup_s=max(2, -(-(last - first + 1) // 1500)),
        ),
        "list_matches": Case(
            "GET /v1/matches?limit=50", 0.6, lua_get('"/v1/matches?limit=50"', key)
        ),
        "place_bet": Case("POST /v1/bets", 0.5, lua_bets(key, data, side, round_id)),
    }


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("- installing wrk (apt-get install wrk) ...", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL
    )
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="oddsdesk benchmarks against the floor")
    parser.add_argument("--cases", default="get_team,list_matches,place_bet")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--bulk-rounds", type=int, default=2, help="rounds of the bulk cases (0 skips them)"
    )
    args = parser.parse_args(argv)
    configure_logging("ERROR")
    ensure_wrk()

    explicit = os.environ.get("BENCH_DATABASE_URL")
    embedded = None
    if explicit:
        server = localdb.with_database(explicit, "postgres")
    elif localdb.can_connect(localdb.LOCAL_SERVER):
        server = localdb.with_database(localdb.LOCAL_SERVER, "postgres")
    else:
        embedded = localdb.embedded()
        embedded.start()
        server = localdb.with_database(embedded.url(), "postgres")
    name = f"oddsdesk_bench_{uuid.uuid4().hex[:10]}"
    localdb.ensure_database(server, name)
    url = localdb.with_database(server, name)
    dsn = localdb.libpq_dsn(url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        print(f"- database {name}: migrating and loading the data set ...", flush=True)
        migrate.upgrade(url)
        data = load_dataset(dsn)
        # Both sides get the same pool, holding every concurrent request: no churn.
        pool = str(args.connections + 2)
        project, project_port = start_server(
            "backend.main:app",
            {
                "DATABASE_URL": url.render_as_string(hide_password=False),
                "ADMIN_API_KEY": ADMIN_KEY,
                "CURSOR_SECRET": "bench-" + ADMIN_KEY,
                "LOG_LEVEL": "WARNING",
                "DB_POOL_SIZE": pool,
            },
        )
        floor, floor_port = start_server(
            "benchmarks.floor:app",
            {
                "FLOOR_DSN": dsn,
                "FLOOR_TENANT_ID": data["tenant_id"],
                "FLOOR_KEY": FLOOR_KEY,
                "FLOOR_POOL": pool,
            },
        )
        procs += [project, floor]
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        results: dict[str, CaseResult] = {}
        for round_no in range(args.rounds):
            for case_id in wanted:
                round_id = f"r{round_no}-{uuid.uuid4().hex[:6]}"
                p_case = cases(data, round_id, "project")[case_id]
                f_case = cases(data, round_id, "floor")[case_id]
                result = results.setdefault(case_id, CaseResult(p_case.name, p_case.target))
                # Alternate which side goes first, so drift does not favour one.
                order = [
                    ("project", project, project_port, p_case),
                    ("floor", floor, floor_port, f_case),
                ]
                if round_no % 2:
                    order.reverse()
                for side, proc, port, case in order:
                    m = measure(proc, port, case, dsn, args.duration, args.connections)
                    getattr(result, side).append(m)
                    print(
                        f"  round {round_no + 1} {case.name:<26} {side:<7} "
                        f"{m.rps:8.0f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:6.2f} ms"
                        f"  errors {m.errors}  cpu {m.cpu_us_per_request:5.0f} us/req"
                        + (
                            f"  db cpu {m.db_cpu_us_per_request:5.0f} us/req"
                            if m.db_cpu_us_per_request is not None
                            else ""
                        ),
                        flush=True,
                    )
        from benchmarks import bulk as bulk_cases

        statements = bulk_cases.statements_per_request(url, TENANT_KEY, data)
        bulk_results = None
        if args.bulk_rounds:
            bulk_results = run_bulk(
                f"http://127.0.0.1:{project_port}", dsn, url, data, args.bulk_rounds
            )
        report(results, args, bulk_results, statements)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        localdb.drop_database(server, name)
        if embedded is not None and embedded.started_here:
            embedded.stop()
    return 0


def run_bulk(base: str, dsn: str, url: Any, data: dict[str, Any], rounds: int) -> dict[str, Any]:
    from benchmarks import bulk

    print("- bulk: odds batches of 100,000 rows ...", flush=True)
    odds = bulk.odds_batches(base, ADMIN_KEY, dsn, data["bookmaker_id"], rounds)
    print("- bulk: importing the six bundled seasons ...", flush=True)
    seasons = bulk.season_import(url)
    print("- bulk: settling 10,000 open bets over 100 strategies ...", flush=True)
    settle = bulk.settlement(base, ADMIN_KEY, dsn, data["tenant_id"], data["bookmaker_id"], rounds)
    return {"odds_batch": odds, "season_import": seasons, "settlement": settle}


def _median_db_cpu(measurements: list[Measurement]) -> str:
    values = [m.db_cpu_us_per_request for m in measurements if m.db_cpu_us_per_request]
    return f"{statistics.median(values):.0f}" if values else "-"


def report(
    results: dict[str, CaseResult],
    args: argparse.Namespace,
    bulk_results: dict[str, Any] | None = None,
    statements: dict[str, Any] | None = None,
) -> None:
    rows = []
    print()
    print(
        f"{'case':<26} {'project':>9} {'floor':>9} {'ratio':>6} {'target':>6} "
        f"{'p50/p99 ms':>14} {'cpu us/req':>10} {'db us/req':>9} {'new sess':>8} {'errors':>6}"
    )
    for result in results.values():
        med_p = statistics.median(m.rps for m in result.project)
        med_f = statistics.median(m.rps for m in result.floor)
        ratio = statistics.median(result.ratios)
        last = result.project[-1]
        ok = "ok" if ratio >= result.target else "BELOW"
        print(
            f"{result.case:<26} {med_p:9.0f} {med_f:9.0f} {ratio:6.2f} {result.target:6.2f} "
            f"{last.p50_ms:6.2f}/{last.p99_ms:6.2f} "
            f"{statistics.median(m.cpu_us_per_request for m in result.project):10.0f} "
            f"{_median_db_cpu(result.project):>9} "
            f"{max(m.new_sessions for m in result.project):8d} "
            f"{sum(m.errors for m in result.project):6d}  {ok}"
        )
        rows.append(
            {
                "case": result.case,
                "target": result.target,
                "ratio_median": ratio,
                "ratios": result.ratios,
                "project_rps_median": med_p,
                "floor_rps_median": med_f,
                "project": [m.__dict__ for m in result.project],
                "floor": [m.__dict__ for m in result.floor],
            }
        )
    if statements:
        print(
            "\nstatements per request (warm, RLS context and key check included): "
            + ", ".join(f"{name} {v['statements']}" for name, v in statements.items())
        )
    if bulk_results:
        o, i, st = (
            bulk_results["odds_batch"],
            bulk_results["season_import"],
            bulk_results["settlement"],
        )
        print(
            f"\nPOST /v1/odds/batch 100k rows: CSV {o['csv_rows_per_s']:,.0f} rows/s "
            f"({o['csv_ratio']:.2f}x of COPY, target 0.50), JSON {o['json_rows_per_s']:,.0f} "
            f"rows/s ({o['json_ratio']:.2f}x, target 0.30); raw COPY "
            f"{o['copy_rows_per_s']:,.0f} rows/s"
        )
        print(
            f"import of {i['files']} seasons: {i['matches']} matches, {i['snapshots']} "
            f"snapshots in {i['seconds']:.1f} s ({i['snapshots_per_s']:,.0f} snapshots/s)"
        )
        print(
            f"settling {st['bets']} bets over {st['strategies']} strategies: "
            f"{st['project_s']:.2f} s vs raw SQL {st['floor_s']:.2f} s "
            f"({st['ratio']:.2f}x)"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "settings": vars(args),
                "cases": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
