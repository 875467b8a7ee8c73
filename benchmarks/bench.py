"""`make bench`: every endpoint family against its raw-psycopg2 floor, in the same run.

Creates a throwaway database (see benchmarks/pg.py for which server: by default a private
PostgreSQL cluster with pg_stat_statements), migrates it, loads a fixed data set, starts the
project as an operator would (`python -m backend.scripts.serve --serve-only --workers N`,
DEFAULT settings: pool 10 + overflow 5, as many route threads as pooled connections; see
benchmarks/servers.py) and the floor (benchmarks/floor.py: same queries, same JSON, a pool
of 10 per worker, the same uvicorn worker count), checks once per case that both answer the
same body, and loads both from a separate process (wrk, 2 threads) on loopback with the
same connections and duration, in alternating rounds. `--compare GITREF` also starts the
project as it was at GITREF (a temporary git worktree, same venv, same database), so before
and after are measured side by side.

Per measurement: req/s, p50/p99, server CPU per request (the server's process tree),
PostgreSQL CPU per request (the test database's client backends), statements per request
and new PostgreSQL sessions. Prints a table and writes benchmarks/results/latest.json.
Figures are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg2

from backend.core.logging import configure_logging
from backend.scripts import localdb, migrate
from benchmarks import pg, servers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADMIN_KEY = "bench-admin-" + uuid.uuid4().hex
TENANT_KEY = "odk_bench_" + uuid.uuid4().hex
FLOOR_KEY = "floor-" + uuid.uuid4().hex
CURSOR_SECRET = "bench-cursors-" + uuid.uuid4().hex
KEY_NAME = "bench"  # the tenant key's name: the project's actor, and the floor's
N_TEAMS, N_BOOKMAKERS, N_MATCHES, N_STRATEGIES = 10_000, 20, 5_000, 100
N_PAST = 2_000  # finished matches (team profiles, settled bets)
N_ODDS_MATCHES = 100  # finished matches with odds: 20 books x 5 selections x 12 captures
DEEP_CAPTURES = 90  # extra captures of the first of them (history pages deep in a match)
N_HISTORY_STRATEGIES, BIG_STRATEGY_BETS, OTHER_STRATEGY_BETS = 50, 2_000, 200
N_AUDIT = 20_000
HISTORY_DEPTH = 8_000  # the history page measured starts after this many snapshots

ALL_CASES = (
    "get_team",
    "list_teams",
    "list_bookmakers",
    "list_matches",
    "list_strategies",
    "list_bets",
    "list_audit",
    "odds_latest",
    "odds_history",
    "closing_odds",
    "performance",
    "leaderboard",
    "team_profile",
    "place_bet",
)
MULTI_WORKER_CASES = "get_team,list_matches,odds_latest,place_bet"


# -- data set --------------------------------------------------------------------------------


def _one(cur: Any, sql: str, params: Any = None) -> Any:
    cur.execute(sql, params)
    return cur.fetchone()


def load_dataset(dsn: str) -> dict[str, Any]:
    """Reference data, finished matches with odds and settled bets, one tenant with its
    strategies, bets and audit trail (loaded as the superuser: no RLS, no audit triggers
    but append-only ones, which only refuse changes)."""
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
        first_team, last_team = _one(cur, "SELECT min(id), max(id) FROM teams")
        cur.execute(
            "INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at) "
            "SELECT 'Bench League', '2035-36', %s + (g %% 5000), %s + 5000 + (g %% 5000), "
            "timestamptz '2035-08-01 12:00Z' + g * interval '1 hour' "
            "FROM generate_series(1, %s) g",
            (first_team, first_team, N_MATCHES),
        )
        (match_id,) = _one(cur, "SELECT min(id) FROM matches")
        # Finished matches between the first 2,000 teams (every one of them gets a profile).
        cur.execute(
            "INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at, "
            "status, home_score, away_score) "
            "SELECT 'Bench League', '2024-25', %s + (g %% 1000), %s + 1000 + ((g * 7) %% 1000), "
            "timestamptz '2024-08-01 12:00Z' + g * interval '3 hours', 'finished', g %% 4, "
            "(g / 4) %% 3 FROM generate_series(1, %s) g",
            (first_team, first_team, N_PAST),
        )
        first_past, last_past = _one(
            cur, "SELECT min(id), max(id) FROM matches WHERE status = 'finished'"
        )
        (bookmaker_id,) = _one(cur, "SELECT min(id) FROM bookmakers")
        odds_last = first_past + N_ODDS_MATCHES - 1
        # Ten captures before kickoff (the last 10 minutes before it) and two in play, so the
        # latest prices and the closing line differ; the first match has 90 more before.
        # The audit rows below are of January 2024 (one a minute from its first day).
        pg.ensure_kickoff_partitions(cur)
        pg.ensure_partitions(cur, "audit_log", "2024-01-01T00:00Z", "2024-01-31T00:00Z")
        cur.execute(
            "INSERT INTO odds_snapshots (match_id, bookmaker_id, market, selection, price, "
            "captured_at) "
            "SELECT m.id, b.id, sel.market, sel.selection, "
            "round(1.5 + ((m.id * 7 + b.id * 13 + c * 17 + sel.n) %% 300) / 100.0 "
            "  + sel.n / 1000.0, 3), "
            "m.kickoff_at - interval '10 minutes' + (c - 9) * interval '30 minutes' "
            "FROM matches m CROSS JOIN bookmakers b "
            "CROSS JOIN (VALUES ('1x2', 'home', 1), ('1x2', 'draw', 2), ('1x2', 'away', 3), "
            "  ('ou2.5', 'over', 4), ('ou2.5', 'under', 5)) sel (market, selection, n) "
            "CROSS JOIN LATERAL generate_series(CASE WHEN m.id = %s THEN %s ELSE 0 END, 11) c "
            "WHERE m.id BETWEEN %s AND %s",
            (first_past, -DEEP_CAPTURES, first_past, odds_last),
        )
        cur.execute("INSERT INTO tenants (id, name) VALUES (%s, 'Bench Fund')", (tenant_id,))
        cur.execute(
            "INSERT INTO api_keys (id, tenant_id, name, key_hash) VALUES (%s, %s, %s, %s)",
            (
                str(uuid.uuid4()),
                tenant_id,
                KEY_NAME,
                hashlib.sha256(TENANT_KEY.encode()).hexdigest(),
            ),
        )
        strategies: dict[str, list[str]] = {"project": [], "floor": []}
        for side in strategies:
            for i in range(N_STRATEGIES):
                sid = str(uuid.uuid4())
                strategies[side].append(sid)
                cur.execute(
                    "INSERT INTO strategies (id, tenant_id, name, bankroll, initial_bankroll, "
                    "max_stake, created_by, updated_by) "
                    "VALUES (%s, %s, %s, 1e10, 1e10, 100, 'bench', 'bench')",
                    (sid, tenant_id, f"{side} {i}"),
                )
        check_strategy = str(uuid.uuid4())
        cur.execute(
            "INSERT INTO strategies (id, tenant_id, name, bankroll, initial_bankroll, max_stake) "
            "VALUES (%s, %s, 'check', 1e10, 1e10, 100)",
            (check_strategy, tenant_id),
        )
        cur.execute(
            "INSERT INTO strategies (id, tenant_id, name, description, bankroll, "
            "initial_bankroll, max_stake, created_by) "
            "SELECT gen_random_uuid(), %s, 'hist ' || lpad(g::text, 3, '0'), 'settled history', "
            "1e6, 1e6, 100, 'bench' FROM generate_series(0, %s) g",
            (tenant_id, N_HISTORY_STRATEGIES - 1),
        )
        (big_strategy,) = _one(
            cur,
            "SELECT id FROM strategies WHERE tenant_id = %s AND name = 'hist 000'",
            (tenant_id,),
        )
        # Settled history: won, lost, void and some open bets on the finished matches.
        cur.execute(
            """
            INSERT INTO bets (id, tenant_id, strategy_id, match_id, bookmaker_id, market,
                              selection, stake, price, potential_return, status, placed_at,
                              settled_at, closing_price, clv, pnl, created_by, updated_by)
            SELECT gen_random_uuid(), %(tenant)s, sid, match_id, %(bookmaker)s, '1x2',
                   selection, stake, price, round(stake * price, 2), status, placed_at,
                   CASE WHEN status <> 'open' THEN placed_at + interval '2 days' END,
                   CASE WHEN status IN ('won', 'lost') THEN closing END,
                   CASE WHEN status IN ('won', 'lost') THEN round(price / closing - 1, 4) END,
                   CASE status WHEN 'won' THEN round(stake * price, 2) - stake
                               WHEN 'lost' THEN -stake WHEN 'void' THEN 0 END,
                   'bench', 'bench'
              FROM (
                SELECT s.id AS sid, %(first_past)s + (g * 7 + s.n) %% %(past)s AS match_id,
                       (ARRAY['home', 'draw', 'away'])[1 + g %% 3] AS selection,
                       10 + g %% 50 AS stake, round(1.5 + ((g * 13 + s.n) %% 250) / 100.0, 3)
                         AS price,
                       round(1.5 + ((g * 13 + s.n) %% 250) / 100.0
                             * (0.9 + ((g * 3 + s.n) %% 21) / 100.0), 3) AS closing,
                       CASE g %% 10 WHEN 0 THEN 'open' WHEN 1 THEN 'void'
                            ELSE CASE WHEN (g * 7 + s.n) %% 3 = 0 THEN 'won' ELSE 'lost' END
                       END AS status,
                       timestamptz '2024-01-01 00:00Z' + g * interval '1 hour'
                         + s.n * interval '1 minute' AS placed_at
                  FROM (SELECT id, row_number() OVER (ORDER BY name) - 1 AS n
                          FROM strategies WHERE tenant_id = %(tenant)s AND name LIKE 'hist %%') s
                 CROSS JOIN LATERAL generate_series(
                     1, CASE WHEN s.n = 0 THEN %(big)s ELSE %(other)s END) g
              ) b
            """,
            {
                "tenant": tenant_id,
                "bookmaker": bookmaker_id,
                "first_past": first_past,
                "past": N_PAST,
                "big": BIG_STRATEGY_BETS,
                "other": OTHER_STRATEGY_BETS,
            },
        )
        cur.execute(
            "INSERT INTO audit_log (tenant_id, occurred_at, actor, action, entity_type, "
            "entity_id, changes, request_id) "
            "SELECT %s, timestamptz '2024-01-01 00:00Z' + g * interval '1 minute', 'bench', "
            "(ARRAY['create', 'update', 'settle'])[1 + g %% 3], "
            "CASE WHEN g %% 2 = 0 THEN 'bet' ELSE 'strategy' END, gen_random_uuid()::text, "
            "jsonb_build_object('bankroll', jsonb_build_array((1000 + g)::text || '.00', "
            "(999 + g)::text || '.00')), md5(g::text) FROM generate_series(1, %s) g",
            (tenant_id, N_AUDIT),
        )
        cur.execute("REFRESH MATERIALIZED VIEW strategy_leaderboard")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    conn.close()
    return {
        "tenant_id": tenant_id,
        "teams": (first_team, last_team),
        "profiled_teams": (first_team, first_team + 1999),
        "match_id": match_id,
        "past": (first_past, last_past),
        "odds_matches": (first_past, odds_last),
        "deep_match": first_past,
        "bookmaker_id": bookmaker_id,
        "strategies": strategies,
        "check_strategy": check_strategy,
        "big_strategy": str(big_strategy),
    }


def recompute_analytics(base: str) -> None:
    answer = httpx.post(
        base + "/v1/analytics/recompute",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=120,
    )
    answer.raise_for_status()


def deep_history_cursor(base: str, match_id: int) -> str:
    """The cursor after HISTORY_DEPTH snapshots of the match, walked through the project."""
    cursor = None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TENANT_KEY}"}) as c:
        for _ in range(HISTORY_DEPTH // 500):
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            answer = c.get(f"/v1/matches/{match_id}/odds/history", params=params, timeout=30)
            answer.raise_for_status()
            cursor = answer.json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


# -- load ------------------------------------------------------------------------------------

LUA_COMMON = """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
errors = 0
statuses = {}
function response(status, headers, body)
  if status >= 300 then
    errors = errors + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end
function done(summary, latency, requests)
  local errs = 0
  local by_status = {}
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
    for status, n in pairs(t:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(by_status) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, '
    .. '"socket_errors": %d, "statuses": {%s}, "connect": %d, "read": %d, "write": %d, '
    .. '"timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errs, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, table.concat(parts, ", "), summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


def lua_get(path: str, key: str) -> str:
    """GET of the Lua expression `path` (re-evaluated per request)."""
    return (
        LUA_COMMON
        + f"""
wrk.headers["Authorization"] = "Bearer {key}"
function request() return wrk.format("GET", {path}) end
"""
    )


def lua_walk(prefix: str, first: int, last: int, key: str, suffix: str = "") -> str:
    """GET prefix + id + suffix for every id in [first, last], split between wrk's threads."""
    return (
        LUA_COMMON
        + f"""
wrk.headers["Authorization"] = "Bearer {key}"
local step = 0
function request()
  local id = {first} + ((tid - 1) + step * 2) % ({last - first + 1})
  step = step + 1
  return wrk.format("GET", "{prefix}" .. id .. "{suffix}")
end
"""
    )


def bet_body(strategy: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "strategy_id": strategy,
            "match_id": data["match_id"],
            "bookmaker_id": data["bookmaker_id"],
            "market": "1x2",
            "selection": "home",
            "stake": "1.00",
            "price": "2.150",
        }
    )


def lua_bets(key: str, strategies: list[str], data: dict[str, Any]) -> str:
    ids = ", ".join(f'"{s}"' for s in strategies)
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
    ["Idempotency-Key"] = "__RUN__-" .. tid .. "-" .. counter,
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


# -- cases -----------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    name: str
    script: Callable[[str, str], str]  # (key, side) -> wrk script
    check: Callable[[str], tuple[str, str, str | None]]  # side -> (method, path, body)
    target: float | None = None
    # Warm-up of the project before a configuration's first round (default: its own script
    # for 1 s). The team by id visits every id once: the project's query cache then holds
    # every team, as in the steady state of a long run.
    project_warmup: Callable[[str], tuple[str, int]] | None = None
    ignore: tuple[str, ...] = ()  # fields that differ by nature (a new bet's id and time)


def build_cases(data: dict[str, Any], history_cursor: str) -> dict[str, Case]:
    first, last = data["teams"]
    p_first, p_last = data["profiled_teams"]
    o_first, o_last = data["odds_matches"]
    deep = data["deep_match"]
    big = data["big_strategy"]
    history = f"/v1/matches/{deep}/odds/history?limit=50&cursor={history_cursor}"

    def fixed(path: str) -> tuple[Callable[[str, str], str], Callable[[str], Any]]:
        return (lambda key, side: lua_get(f'"{path}"', key)), (lambda side: ("GET", path, None))

    def walk_warmup(key: str) -> tuple[str, int]:
        # 10,000 ids at >= 1,500 req/s: every one visited.
        return lua_walk("/v1/teams/", first, last, key), max(2, -(-(last - first + 1) // 1500))

    return {
        "get_team": Case(
            "get_team",
            "GET /v1/teams/{id}",
            lambda key, side: lua_get(f'"/v1/teams/" .. math.random({first}, {last})', key),
            lambda side: ("GET", f"/v1/teams/{first + 17}", None),
            target=0.6,
            project_warmup=walk_warmup,
        ),
        "list_teams": Case("list_teams", "GET /v1/teams", *fixed("/v1/teams?limit=50")),
        "list_bookmakers": Case(
            "list_bookmakers", "GET /v1/bookmakers", *fixed("/v1/bookmakers?limit=50")
        ),
        "list_matches": Case(
            "list_matches", "GET /v1/matches", *fixed("/v1/matches?limit=50"), target=0.6
        ),
        "list_strategies": Case(
            "list_strategies", "GET /v1/strategies", *fixed("/v1/strategies?limit=50")
        ),
        "list_bets": Case(
            "list_bets", "GET /v1/bets?strategy_id", *fixed(f"/v1/bets?strategy_id={big}&limit=50")
        ),
        "list_audit": Case("list_audit", "GET /v1/audit", *fixed("/v1/audit?limit=50")),
        "odds_latest": Case(
            "odds_latest",
            "GET /v1/matches/{id}/odds",
            lambda key, side: lua_get(
                f'"/v1/matches/" .. math.random({o_first}, {o_last}) .. "/odds"', key
            ),
            lambda side: ("GET", f"/v1/matches/{o_first + 3}/odds", None),
        ),
        "odds_history": Case("odds_history", "GET .../odds/history (deep)", *fixed(history)),
        "closing_odds": Case(
            "closing_odds",
            "GET .../closing-odds",
            lambda key, side: lua_get(
                f'"/v1/matches/" .. math.random({o_first}, {o_last}) .. "/closing-odds"', key
            ),
            lambda side: ("GET", f"/v1/matches/{o_first + 5}/closing-odds", None),
        ),
        "performance": Case(
            "performance",
            "GET .../performance",
            *fixed(f"/v1/strategies/{big}/performance"),
        ),
        "leaderboard": Case("leaderboard", "GET /v1/leaderboard", *fixed("/v1/leaderboard")),
        "team_profile": Case(
            "team_profile",
            "GET /v1/teams/{id}/profile",
            lambda key, side: lua_get(
                f'"/v1/teams/" .. math.random({p_first}, {p_last}) .. "/profile"', key
            ),
            lambda side: ("GET", f"/v1/teams/{p_first + 11}/profile", None),
        ),
        "place_bet": Case(
            "place_bet",
            "POST /v1/bets",
            lambda key, side: lua_bets(
                key, data["strategies"]["floor" if side == "floor" else "project"], data
            ),
            lambda side: ("POST", "/v1/bets", bet_body(data["check_strategy"], data)),
            target=0.5,
            ignore=("id", "placed_at"),
        ),
    }


# -- measurements ----------------------------------------------------------------------------


@dataclass
class Side:
    name: str  # project, before, floor
    server: servers.Running
    key: str


@dataclass
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us_per_request: float
    db_cpu_us_per_request: float | None
    statements_per_request: float | None
    new_sessions: int
    error_detail: dict[str, Any] = field(default_factory=dict)
    top_statements: list[tuple[float, str]] | None = None


@dataclass
class CaseResult:
    case: str
    name: str
    workers: int
    connections: int
    target: float | None
    runs: dict[str, list[Measurement]] = field(default_factory=dict)

    def ratios(self, side: str, against: str = "floor") -> list[float]:
        return [
            a.rps / b.rps
            for a, b in zip(self.runs.get(side, []), self.runs.get(against, []), strict=False)
            if b.rps
        ]


def measure(
    side: Side,
    script: str,
    probe: pg.DbProbe,
    duration: int,
    connections: int,
    detail: bool,
) -> Measurement:
    s0 = probe.snapshot(queries=detail)
    cpu0 = pg.tree_cpu_seconds(side.server.pid)
    raw = run_wrk(side.server.port, script, duration, connections)
    cpu1 = pg.tree_cpu_seconds(side.server.pid)
    s1 = probe.snapshot(queries=detail)
    requests = max(1, raw["requests"])
    db = probe.delta(s0, s1, requests)
    return Measurement(
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=raw["errors"] + raw["socket_errors"],
        requests=raw["requests"],
        cpu_us_per_request=(cpu1 - cpu0) * 1e6 / requests,
        db_cpu_us_per_request=db.cpu_us_per_request,
        statements_per_request=db.statements,
        new_sessions=db.sessions,
        error_detail={
            k: raw[k] for k in ("statuses", "connect", "read", "write", "timeout") if raw.get(k)
        },
        top_statements=db.top,
    )


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def print_measurement(result: CaseResult, side: str, round_no: int, m: Measurement) -> None:
    print(
        f"  {result.workers}w {result.connections:>2}c r{round_no + 1} {result.name:<28} "
        f"{side:<7} {m.rps:7.0f} req/s  p50 {m.p50_ms:6.2f}  p99 {m.p99_ms:6.2f} ms  "
        f"cpu {m.cpu_us_per_request:5.0f}  pg {_fmt(m.db_cpu_us_per_request):>5} us/req  "
        f"stmts {_fmt(m.statements_per_request, '.2f')}  sess {m.new_sessions}  "
        f"err {m.errors}" + (f" {m.error_detail}" if m.error_detail else ""),
        flush=True,
    )


def compare_bodies(sides: list[Side], case: Case) -> dict[str, Any]:
    """Each project side's answer against the floor's, after JSON parsing."""
    answers = {}
    for side in sides:
        method, path, body = case.check(side.name)
        headers = {"Authorization": f"Bearer {side.key}"}
        if method == "POST":
            headers |= {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        response = httpx.request(
            method, side.server.base + path, headers=headers, content=body, timeout=30
        )
        try:
            parsed = response.json()
        except ValueError:
            parsed = response.text
        answers[side.name] = (response.status_code, parsed)
    floor_status, floor_body = answers["floor"]
    out: dict[str, Any] = {}
    for name, (status, parsed) in answers.items():
        if name == "floor":
            continue
        differences = []
        if status != floor_status:
            differences.append(f"status {status} vs floor {floor_status}")
        differences += _diff(_drop(parsed, case.ignore), _drop(floor_body, case.ignore), "$")
        out[name] = {"equal": not differences, "differences": differences[:20]}
        verdict = "same body" if not differences else f"{len(differences)} difference(s)"
        print(f"  check {case.name:<28} {name} vs floor: {verdict}", flush=True)
        for line in differences[:10]:
            print(f"      {line}", flush=True)
    return out


def _drop(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _drop(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_drop(v, keys) for v in value]
    return value


def _diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                out.append(f"{path}.{key}: missing in project, floor {b[key]!r:.80}")
            elif key not in b:
                out.append(f"{path}.{key}: project {a[key]!r:.80}, missing in floor")
            else:
                out += _diff(a[key], b[key], f"{path}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = [] if len(a) == len(b) else [f"{path}: {len(a)} items vs floor {len(b)}"]
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            out += _diff(x, y, f"{path}[{i}]")
        return out
    if a != b or type(a) is not type(b):
        return [f"{path}: project {a!r:.80} vs floor {b!r:.80}"]
    return []


def run_cases(
    sides: list[Side],
    cases: dict[str, Case],
    wanted: list[str],
    workers: int,
    connections: list[int],
    args: argparse.Namespace,
    probe: pg.DbProbe,
    results: list[CaseResult],
    started: float,
) -> None:
    """Each case at each connection count in turn (a case's configurations back to back: the
    project's caches stay in the state its warm-up left them in)."""
    for case_id in wanted:
        case = cases[case_id]
        scripts = {s.name: case.script(s.key, s.name) for s in sides}
        for n, conns in enumerate(connections):
            result = CaseResult(case.id, case.name, workers, conns, case.target)
            results.append(result)
            for side in sides:  # pools filled, code paths hot, caches in their steady state
                warm_script, warm_s = scripts[side.name], args.warmup
                if side.name != "floor" and case.project_warmup is not None and n == 0:
                    warm_script, warm_s = case.project_warmup(side.key)
                run_wrk(side.server.port, warm_script, warm_s, conns)
            for round_no in range(args.rounds):
                # Alternate which side goes first, so drift does not favour one.
                order = sides if round_no % 2 == 0 else list(reversed(sides))
                for side in order:
                    m = measure(
                        side, scripts[side.name], probe, args.duration, conns, round_no == 0
                    )
                    result.runs.setdefault(side.name, []).append(m)
                    print_measurement(result, side.name, round_no, m)
            for side in sides:
                failed = sum(
                    n
                    for m in result.runs[side.name]
                    for status, n in m.error_detail.get("statuses", {}).items()
                    if int(status) >= 500
                )
                if failed:
                    print(f"  ! {side.name} answered {failed} server errors; its log ends:")
                    for line in side.server.log_tail(12).splitlines():
                        print(f"    | {line}", flush=True)
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


# -- main ------------------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("- installing wrk (apt-get install wrk) ...", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL
    )
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="oddsdesk benchmarks against the floor")
    parser.add_argument("--cases", default=",".join(ALL_CASES), help="comma-separated case ids")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=2, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per side")
    parser.add_argument("--connections", default="8,32", help="with one worker")
    parser.add_argument("--workers", default="1,2", help="worker counts (project and floor alike)")
    parser.add_argument(
        "--multi-cases",
        default=MULTI_WORKER_CASES,
        help="cases measured with more than one worker ('all' for every case)",
    )
    parser.add_argument(
        "--multi-connections", default="32", help="connections with more than one worker"
    )
    parser.add_argument("--compare", metavar="GITREF", help="also measure the project at GITREF")
    parser.add_argument(
        "--pg",
        choices=("private", "local", "embedded"),
        default="private",
        help="PostgreSQL server (BENCH_DATABASE_URL wins): a private cluster with "
        "pg_stat_statements (default), 127.0.0.1:5432, or the embedded one",
    )
    parser.add_argument(
        "--bulk-rounds", type=int, default=1, help="rounds of the bulk cases (0 skips them)"
    )
    parser.add_argument("--floor-json", choices=("json", "orjson"), default="json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    configure_logging("ERROR")
    ensure_wrk()
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(wanted) - set(ALL_CASES)
    if unknown:
        raise SystemExit(f"unknown cases: {', '.join(sorted(unknown))}")
    multi = (
        wanted
        if args.multi_cases == "all"
        else [c for c in args.multi_cases.split(",") if c.strip() in wanted]
    )

    worktree = servers.Worktree(args.compare) if args.compare else None
    db_server = pg.server(args.pg)
    name = f"oddsdesk_bench_{uuid.uuid4().hex[:10]}"
    running: list[servers.Running] = []
    probe: pg.DbProbe | None = None
    try:
        print(f"- PostgreSQL: {db_server.description}", flush=True)
        if worktree is not None:
            print(f"- compare: {args.compare} = {worktree.describe()} in {worktree.path}")
            differ = worktree.migrations_differ()
            if differ:
                print(
                    "! the migrations differ (the database is at this tree's head): "
                    + ", ".join(differ),
                    flush=True,
                )
        localdb.ensure_database(db_server.url, name)
        url = localdb.with_database(db_server.url, name)
        dsn = localdb.libpq_dsn(url)
        print(f"- database {name}: migrating and loading the data set ...", flush=True)
        migrate.upgrade(url)
        data = load_dataset(dsn)
        probe = pg.DbProbe(dsn)
        print(f"- statements per request from {probe.statement_source}", flush=True)
        print(f"- set up in {time.monotonic() - started:.0f} s", flush=True)
        database_url = url.render_as_string(hide_password=False)
        floor_env = {
            "FLOOR_DSN": dsn,
            "FLOOR_TENANT_ID": data["tenant_id"],
            "FLOOR_KEY": FLOOR_KEY,
            "FLOOR_ACTOR": KEY_NAME,
            "FLOOR_CURSOR_SECRET": CURSOR_SECRET,
            "FLOOR_POOL": "10",
            "FLOOR_JSON": args.floor_json,
        }
        results: list[CaseResult] = []
        checks: dict[str, Any] = {}
        cases: dict[str, Case] | None = None
        for workers in _ints(args.workers):
            connections = _ints(args.connections) if workers == 1 else _ints(args.multi_connections)
            todo = wanted if workers == 1 else multi
            if not todo or not connections:
                continue
            servers.stop_all(running)
            running.clear()
            sides = start_sides(workers, database_url, floor_env, worktree, running)
            if cases is None:
                recompute_analytics(sides[0].server.base)
                cursor = deep_history_cursor(sides[0].server.base, data["deep_match"])
                cases = build_cases(data, cursor)
            # Once per case and freshly started servers (a tree edited meanwhile shows here).
            print("- same answers? (each project side against the floor)", flush=True)
            checks[f"{workers}w"] = {c: compare_bodies(sides, cases[c]) for c in todo}
            print(
                f"- {workers} worker(s), {', '.join(map(str, connections))} connections "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            run_cases(sides, cases, todo, workers, connections, args, probe, results, started)
        bulk_results = None
        if args.bulk_rounds and running:
            project = next(s for s in running if s.label == "project")
            bulk_results = run_bulk(project.base, dsn, url, data, args.bulk_rounds)
        elapsed = time.monotonic() - started
        report(results, checks, args, bulk_results, probe, db_server, worktree, elapsed)
    finally:
        servers.stop_all(running)
        if probe is not None:
            probe.close()
        try:
            localdb.drop_database(db_server.url, name)
        finally:
            db_server.stop()
            if worktree is not None:
                worktree.close()
    return 0


def start_sides(
    workers: int,
    database_url: str,
    floor_env: dict[str, str],
    worktree: servers.Worktree | None,
    running: list[servers.Running],
) -> list[Side]:
    probe_headers: dict[str, str] = {}
    sides = []
    project = servers.start_project(
        "project",
        ROOT,
        database_url,
        ADMIN_KEY,
        CURSOR_SECRET,
        workers,
        "/health/live",
        probe_headers,
    )
    running.append(project)
    sides.append(Side("project", project, TENANT_KEY))
    if worktree is not None:
        before = servers.start_project(
            "before",
            worktree.path,
            database_url,
            ADMIN_KEY,
            CURSOR_SECRET,
            workers,
            "/health/live",
            probe_headers,
        )
        running.append(before)
        sides.append(Side("before", before, TENANT_KEY))
    floor = servers.start_floor(floor_env, workers, "/health/live", probe_headers)
    running.append(floor)
    sides.append(Side("floor", floor, FLOOR_KEY))
    print(
        f"- started {', '.join(f'{s.label} (pid {s.pid}, :{s.port})' for s in running)}, "
        f"{workers} worker(s) each",
        flush=True,
    )
    return sides


def run_bulk(base: str, dsn: str, url: Any, data: dict[str, Any], rounds: int) -> dict[str, Any]:
    from benchmarks import bulk

    steps: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "odds_batch",
            "odds batches of 100,000 rows",
            lambda: bulk.odds_batches(base, ADMIN_KEY, dsn, data["bookmaker_id"], rounds),
        ),
        ("season_import", "importing the six bundled seasons", lambda: bulk.season_import(url)),
        (
            "settlement",
            "settling 10,000 open bets over 100 strategies",
            lambda: bulk.settlement(
                base, ADMIN_KEY, dsn, data["tenant_id"], data["bookmaker_id"], rounds
            ),
        ),
    ]
    out: dict[str, Any] = {}
    for key, title, step in steps:
        print(f"- bulk: {title} ...", flush=True)
        try:
            out[key] = step()
        except Exception as exc:
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"! bulk {key} failed: {type(exc).__name__}: {exc}", flush=True)
    return out


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _pair(result: CaseResult, attr: str, sides: list[str], spec: str = ".0f") -> str:
    return "/".join(
        _fmt(_median([getattr(m, attr) for m in result.runs.get(s, [])]), spec) for s in sides
    )


def report(
    results: list[CaseResult],
    checks: dict[str, Any],
    args: argparse.Namespace,
    bulk_results: dict[str, Any] | None,
    probe: pg.DbProbe,
    db_server: pg.Server,
    worktree: servers.Worktree | None,
    elapsed: float,
) -> None:
    compare = worktree is not None
    names = ["project", "before", "floor"] if compare else ["project", "floor"]
    count_label = "stmts/req" if probe.has_statements else "xacts/req"
    short = "/".join({"project": "p", "before": "b", "floor": "f"}[n] for n in names)
    print()
    print(
        "median over rounds; ratio = project req/s / floor req/s (median of the rounds' "
        "ratios)" + ("; before = the project at " + args.compare if compare else "")
    )
    print(f"statements: {probe.statement_source}")
    head = f"{'case':<28} {'w':>1} {'c':>2} {'project':>8}"
    if compare:
        head += f" {'before':>8}"
    head += f" {'floor':>8} {'ratio':>6}"
    if compare:
        head += f" {'before':>6} {'aft/bef':>7}"
    head += (
        f" {'target':>6} {'p50 ms ' + short:>20} {'p99 ms ' + short:>20} "
        f"{'cpu us/req ' + short:>18} {'pg us/req ' + short:>17} {count_label + ' ' + short:>17} "
        f"{'new sess':>9} {'err':>4}  body"
    )
    print(head)
    rows = []
    for r in results:
        ratio = _median(r.ratios("project"))
        line = f"{r.name:<28} {r.workers:>1} {r.connections:>2} "
        line += f"{_fmt(_median([m.rps for m in r.runs['project']])):>8}"
        if compare:
            line += f" {_fmt(_median([m.rps for m in r.runs['before']])):>8}"
        line += f" {_fmt(_median([m.rps for m in r.runs['floor']])):>8} {_fmt(ratio, '.2f'):>6}"
        before_ratio = after_before = None
        if compare:
            before_ratio = _median(r.ratios("before"))
            after_before = _median(r.ratios("project", "before"))
            line += f" {_fmt(before_ratio, '.2f'):>6} {_fmt(after_before, '.2f'):>7}"
        line += f" {_fmt(r.target, '.2f'):>6}"
        line += f" {_pair(r, 'p50_ms', names, '.2f'):>20} {_pair(r, 'p99_ms', names, '.2f'):>20}"
        line += f" {_pair(r, 'cpu_us_per_request', names):>18}"
        line += f" {_pair(r, 'db_cpu_us_per_request', names):>17}"
        line += f" {_pair(r, 'statements_per_request', names, '.2f'):>17}"
        sessions = "/".join(str(max(m.new_sessions for m in r.runs[n])) for n in names)
        errors = sum(m.errors for n in names for m in r.runs[n])
        check = checks.get(f"{r.workers}w", {}).get(r.case, {})
        same = "same" if check and all(v["equal"] for v in check.values()) else "DIFF"
        line += f" {sessions:>9} {errors:>4}  {same}"
        print(line)
        rows.append(
            {
                "case": r.case,
                "name": r.name,
                "workers": r.workers,
                "connections": r.connections,
                "target": r.target,
                "ratio_median": ratio,
                "ratios": r.ratios("project"),
                "before_ratio_median": before_ratio,
                "after_over_before_median": after_before,
                "rps_median": {n: _median([m.rps for m in r.runs[n]]) for n in names},
                "runs": {n: [asdict(m) for m in r.runs[n]] for n in names},
            }
        )
    # The statements behind the counts (first round of each case, one worker, fewest
    # connections), for reading a count.
    shown = set()
    if probe.has_statements:
        print("\nstatements per request, by statement (first round, one worker):")
    for r in results:
        if r.case in shown or r.workers != 1:
            continue
        shown.add(r.case)
        for n in names:
            top = r.runs[n][0].top_statements
            if not top:
                continue
            parts = "; ".join(f"{calls:.2f}x {text[:70]}" for calls, text in top[:4])
            print(f"  {r.name:<28} {n:<7} {parts}")
    if bulk_results:
        print()
        o = bulk_results.get("odds_batch", {})
        if "error" in o:
            print(f"POST /v1/odds/batch: failed ({o['error']})")
        elif o:
            print(
                f"POST /v1/odds/batch 100k rows: CSV {o['csv_rows_per_s']:,.0f} rows/s "
                f"({o['csv_ratio']:.2f}x of COPY, target 0.50), JSON "
                f"{o['json_rows_per_s']:,.0f} rows/s ({o['json_ratio']:.2f}x, target 0.30); "
                f"raw COPY {o['copy_rows_per_s']:,.0f} rows/s"
            )
        i = bulk_results.get("season_import", {})
        if "error" in i:
            print(f"import of the seasons: failed ({i['error']})")
        elif i:
            print(
                f"import of {i['files']} seasons: {i['matches']} matches, {i['snapshots']} "
                f"snapshots in {i['seconds']:.1f} s ({i['snapshots_per_s']:,.0f} snapshots/s)"
            )
        st = bulk_results.get("settlement", {})
        if "error" in st:
            print(f"settlement: failed ({st['error']})")
        elif st:
            print(
                f"settling {st['bets']} bets over {st['strategies']} strategies: "
                f"{st['project_s']:.2f} s vs raw SQL {st['floor_s']:.2f} s "
                f"({st['ratio']:.2f}x)"
            )
    print(f"\nrun time {elapsed:.0f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "settings": vars(args),
                "postgres": db_server.description,
                "statement_source": probe.statement_source,
                "compare": (
                    {"ref": args.compare, "commit": worktree.commit, "title": worktree.describe()}
                    if worktree is not None
                    else None
                ),
                "run_seconds": elapsed,
                "checks": checks,
                "cases": rows,
                "bulk": bulk_results,
            },
            indent=2,
            default=str,
        )
    )
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
