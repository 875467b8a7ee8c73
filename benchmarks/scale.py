"""`make bench-scale`: how the hot reads and the big writes behave as the data grows.

Creates a throwaway database (the private PostgreSQL cluster of benchmarks/pg.py by default),
migrates it (`alembic upgrade head`), and loads with COPY, as the superuser (row-level
security does not apply to it; `session_replication_role = replica` skips the foreign-key
and append-only triggers for the load, every reference being valid by construction), in
three steps: 1%, 10%, 100% of

- 10,000,000 odds snapshots: 10,000 finished matches x 20 bookmakers x 5 selections x 10
  captures before kickoff;
- 1,000,000 bets over 1,000 strategies of 10 tenants (one strategy of tenant 0 gets one bet
  in twenty: the largest), settled mostly, some void and open;
- 2,000,000 audit rows (the tenants' and the reference data's).

After each step: VACUUM ANALYZE and a CHECKPOINT (the private cluster runs no autovacuum),
then, through the running project (HTTP, one worker, default settings), the median of
repeated calls of: the latest odds of one match, the last odds-history page of a match
(keyset, cursor minted with the project's CURSOR_SECRET), the last page of a tenant's bets,
the performance of the largest strategy, a bets count (include_total), the leaderboard
refresh (the project refreshes the materialized view after a result commits: a result of a
match without bets, and the refresh function alone in SQL), and the settlement of a match
with 100,000 open bets (POST /v1/matches/{id}/result; its bets and audit rows are deleted
afterwards, so every size keeps its nominal row counts). Prints size vs time and the ratio
largest/smallest; writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg2

from backend.core.logging import configure_logging
from backend.repositories import cursor as cursors
from backend.scripts import localdb, migrate
from benchmarks import pg, servers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADMIN_KEY = "scale-admin-" + uuid.uuid4().hex
CURSOR_SECRET = "scale-cursors-" + uuid.uuid4().hex
TENANT_KEY = "odk_scale_" + uuid.uuid4().hex

FULL_MATCHES = 10_000
BOOKMAKERS = 20
SELECTIONS = (
    ("1x2", "home"),
    ("1x2", "draw"),
    ("1x2", "away"),
    ("ou2.5", "over"),
    ("ou2.5", "under"),
)
CAPTURES = 10  # per (match, bookmaker, selection): 20 x 5 x 10 = 1,000 snapshots per match
FULL_BETS = 1_000_000
TENANTS, STRATEGIES_PER_TENANT = 10, 100
FULL_AUDIT = 2_000_000
SETTLE_BETS = 100_000
BASE_TIME = datetime(2023, 1, 1, tzinfo=UTC)


class Stream(io.RawIOBase):
    """A file-like object over generated CSV chunks, for COPY ... FROM STDIN."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk.encode()
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _ts(value: datetime) -> str:
    return value.isoformat()


# -- loading ----------------------------------------------------------------------------------


class Loader:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = psycopg2.connect(dsn, options="-c timezone=UTC")
        with self.conn, self.conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
        self.matches = 0
        self.match_ids: list[int] = []
        self.bets = 0
        self.audit = 0

    def copy(self, table: str, columns: str, chunks: Iterator[str]) -> None:
        with self.conn, self.conn.cursor() as cur:
            cur.copy_expert(
                f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)",
                Stream(chunks),
                size=1 << 20,
            )

    def _partitions(self, table: str, start: datetime, end: datetime) -> None:
        """The partitions of the rows about to be loaded (a day's margin either side)."""
        with self.conn, self.conn.cursor() as cur:
            pg.ensure_partitions(cur, table, start - timedelta(days=1), end + timedelta(days=1))

    def reference(self) -> dict[str, Any]:
        """Teams, bookmakers, tenants with their strategies and one key for tenant 0."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO teams (name, country, league) SELECT 'Scale Team ' || g, "
                "'England', 'Scale League' FROM generate_series(1, 20000) g"
            )
            cur.execute(
                "INSERT INTO bookmakers (name, is_sharp) SELECT 'Scale Book ' || g, g = 1 "
                "FROM generate_series(1, %s) g",
                (BOOKMAKERS,),
            )
            cur.execute("SELECT min(id) FROM teams")
            (self.first_team,) = cur.fetchone()
            cur.execute("SELECT id, is_sharp FROM bookmakers ORDER BY id")
            books = cur.fetchall()
            self.bookmakers = [b[0] for b in books]
            self.sharp = next(b[0] for b in books if b[1])
            self.tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
            self.strategies: list[tuple[str, str]] = []  # (tenant, strategy)
            for t, tenant in enumerate(self.tenants):
                cur.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, f"Fund {t}"))
                for s in range(STRATEGIES_PER_TENANT):
                    sid = str(uuid.uuid4())
                    self.strategies.append((tenant, sid))
                    cur.execute(
                        "INSERT INTO strategies (id, tenant_id, name, bankroll, "
                        "initial_bankroll, max_stake) VALUES (%s, %s, %s, 1e9, 1e9, 1000)",
                        (sid, tenant, f"strategy {s:03d}"),
                    )
            cur.execute(
                "INSERT INTO api_keys (id, tenant_id, name, key_hash) VALUES (%s, %s, 'scale', %s)",
                (
                    str(uuid.uuid4()),
                    self.tenants[0],
                    hashlib.sha256(TENANT_KEY.encode()).hexdigest(),
                ),
            )
        return {"tenant": self.tenants[0], "big_strategy": self.strategies[0][1]}

    def kickoff(self, i: int) -> datetime:
        return BASE_TIME + timedelta(hours=i)

    def grow(self, fraction: float) -> dict[str, float]:
        """Load up to `fraction` of the full data set; seconds per table."""
        timings = {}
        matches = int(FULL_MATCHES * fraction)
        bets = int(FULL_BETS * fraction)
        audit = int(FULL_AUDIT * fraction)
        started = time.perf_counter()
        self._add_matches(matches)
        self._partitions("odds_snapshots", self.kickoff(0), self.kickoff(matches))
        self._partitions("audit_log", BASE_TIME, BASE_TIME + timedelta(seconds=5 * audit))
        self.copy(
            "odds_snapshots",
            "match_id, bookmaker_id, market, selection, price, captured_at",
            self._odds(matches),
        )
        timings["odds"] = time.perf_counter() - started
        self.matches = matches
        started = time.perf_counter()
        self.copy(
            "bets",
            "id, tenant_id, strategy_id, match_id, bookmaker_id, market, selection, stake, "
            "price, potential_return, status, placed_at, settled_at, closing_price, clv, pnl, "
            "created_by, updated_by",
            self._bets(self.bets, bets),
        )
        self.bets = bets
        timings["bets"] = time.perf_counter() - started
        started = time.perf_counter()
        self.copy(
            "audit_log",
            "id, tenant_id, occurred_at, actor, action, entity_type, entity_id, changes, "
            "request_id",
            self._audit(self.audit, audit),
        )
        self.audit = audit
        timings["audit"] = time.perf_counter() - started
        started = time.perf_counter()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("REFRESH MATERIALIZED VIEW strategy_leaderboard")
            cur.execute("VACUUM ANALYZE")
            cur.execute("CHECKPOINT")
        self.conn.autocommit = False
        timings["vacuum"] = time.perf_counter() - started
        return timings

    def _add_matches(self, upto: int) -> None:
        """Finished matches number self.matches .. upto-1."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at, "
                "status, home_score, away_score) "
                "SELECT 'Scale League', '2023-24', %(t)s + (g %% 10000), "
                "%(t)s + 10000 + ((g * 7) %% 10000), %(base)s + g * interval '1 hour', "
                "'finished', g %% 4, (g / 4) %% 3 FROM generate_series(%(lo)s, %(hi)s) g "
                "RETURNING id",
                {"t": self.first_team, "base": BASE_TIME, "lo": self.matches, "hi": upto - 1},
            )
            self.match_ids += sorted(r[0] for r in cur.fetchall())

    def match_id(self, i: int) -> int:
        return self.match_ids[i]

    def _odds(self, upto: int) -> Iterator[str]:
        for i in range(self.matches, upto):
            match = self.match_id(i)
            kickoff = self.kickoff(i)
            stamps = [
                _ts(kickoff - timedelta(minutes=10 + 30 * (CAPTURES - 1 - c)))
                for c in range(CAPTURES)
            ]
            rows = []
            for b, book in enumerate(self.bookmakers):
                for n, (market, selection) in enumerate(SELECTIONS):
                    base = 150 + (i * 7 + b * 13 + n * 31) % 300
                    for c, stamp in enumerate(stamps):
                        rows.append(
                            f"{match},{book},{market},{selection},"
                            f"{(base + c * 3) / 100:.3f},{stamp}\n"
                        )
            yield "".join(rows)

    def _bets(self, start: int, upto: int) -> Iterator[str]:
        """Bet i: the largest strategy takes one in twenty; placed in order of i."""
        n_strategies = len(self.strategies)
        rows = []
        for i in range(start, upto):
            tenant, strategy = self.strategies[0 if i % 20 == 0 else (i * 7919) % n_strategies]
            match = self.match_id((i * 31) % self.matches)
            selection = SELECTIONS[i % 3][1]
            stake = 10 + i % 90
            price = 1.5 + (i * 13 % 250) / 100
            placed = BASE_TIME + timedelta(seconds=10 * i)
            kind = i % 20
            if kind == 1:
                status, settled, closing, clv, pnl = "open", "", "", "", ""
            elif kind == 2:
                status, settled, closing, clv, pnl = (
                    "void",
                    _ts(placed + timedelta(days=1)),
                    "",
                    "",
                    "0",
                )
            else:
                won = (i * 7) % 3 == 0
                status = "won" if won else "lost"
                settled = _ts(placed + timedelta(days=1))
                closing_v = round(price * (0.9 + (i * 3 % 21) / 100), 3)
                closing = f"{max(closing_v, 1.001):.3f}"
                clv = f"{price / max(closing_v, 1.001) - 1:.4f}"
                pnl = f"{round(stake * price, 2) - stake:.2f}" if won else f"{-stake}"
            rows.append(
                f"{uuid.uuid4()},{tenant},{strategy},{match},{self.bookmakers[i % BOOKMAKERS]},"
                f"1x2,{selection},{stake},{price:.3f},{stake * price:.2f},{status},{_ts(placed)},"
                f"{settled},{closing},{clv},{pnl},scale,scale\n"
            )
            if len(rows) >= 10_000:
                yield "".join(rows)
                rows = []
        if rows:
            yield "".join(rows)

    def _audit(self, start: int, upto: int) -> Iterator[str]:
        """Audit row i: the tenants' (bets and strategies) and, one in eleven, reference data."""
        changes = (
            '"{""status"": [""open"", ""won""], ""pnl"": [null, ""12.50""]}"',
            '"{""bankroll"": [""1000.00"", ""990.00""]}"',
            '"{""kickoff_at"": [""2024-01-01T12:00:00Z"", ""2024-01-02T12:00:00Z""]}"',
        )
        rows = []
        for i in range(start, upto):
            t = i % (TENANTS + 1)
            occurred = _ts(BASE_TIME + timedelta(seconds=5 * i))
            if t == TENANTS:
                tenant, entity, action, change = "", "match", "update", changes[2]
            else:
                tenant = self.tenants[t]
                entity, action, change = (
                    ("bet", "settle", changes[0]) if i % 2 else ("strategy", "update", changes[1])
                )
            rows.append(
                f"{uuid.uuid4()},{tenant},{occurred},scale,{action},{entity},{i},{change},r{i}\n"
            )
            if len(rows) >= 10_000:
                yield "".join(rows)
                rows = []
        if rows:
            yield "".join(rows)

    def count(self) -> dict[str, int]:
        with self.conn, self.conn.cursor() as cur:
            out = {}
            for table in ("odds_snapshots", "bets", "audit_log", "matches"):
                cur.execute(f"SELECT count(*) FROM {table}")
                out[table] = cur.fetchone()[0]
        return out

    def settlement_match(self, bets: int, tag: int) -> int:
        """A kicked-off scheduled match with the sharp book's closing prices and `bets` open
        bets spread over every strategy."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at) "
                "VALUES ('Scale League', '2025-26', %s, %s, now() - interval '3 hours' "
                "- %s * interval '1 second') RETURNING id",
                (self.first_team, self.first_team + 1, tag),
            )
            (match,) = cur.fetchone()
            pg.ensure_partitions(cur, "odds_snapshots", datetime.now(UTC) - timedelta(hours=4))
            cur.execute(
                "INSERT INTO odds_snapshots (match_id, bookmaker_id, market, selection, price, "
                "captured_at) SELECT %s, %s, s.m, s.sel, 2.4, now() - interval '4 hours' "
                "FROM (VALUES ('1x2', 'home'), ('1x2', 'draw'), ('1x2', 'away'), "
                "('ou2.5', 'over'), ('ou2.5', 'under')) s (m, sel)",
                (match, self.sharp),
            )
            if bets:
                tenants = [t for t, _ in self.strategies]
                strategies = [s for _, s in self.strategies]
                cur.execute(
                    "INSERT INTO bets (id, tenant_id, strategy_id, match_id, bookmaker_id, "
                    "market, selection, stake, price, potential_return) "
                    "SELECT gen_random_uuid(), (%(t)s::uuid[])[1 + g %% %(n)s], "
                    "(%(s)s::uuid[])[1 + g %% %(n)s], %(m)s, %(b)s, '1x2', "
                    "(ARRAY['home', 'draw', 'away'])[1 + g %% 3], 10, 2.5, 25 "
                    "FROM generate_series(0, %(bets)s - 1) g",
                    {
                        "t": tenants,
                        "s": strategies,
                        "n": len(strategies),
                        "m": match,
                        "b": self.sharp,
                        "bets": bets,
                    },
                )
            cur.execute("SELECT now()")
            (self.settle_started,) = cur.fetchone()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("ANALYZE bets")
        self.conn.autocommit = False
        return int(match)

    def forget_settlement(self, match: int, since: datetime) -> None:
        """Delete a settlement's bets and audit rows (replica role: no append-only trigger),
        so the next size keeps its nominal counts."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute("DELETE FROM bets WHERE match_id = %s", (match,))
            cur.execute("DELETE FROM audit_log WHERE occurred_at >= %s", (since,))
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE bets")
            cur.execute("VACUUM ANALYZE audit_log")
        self.conn.autocommit = False

    def cursor_at_end(self, sql: str, params: tuple[Any, ...], scope: str) -> str:
        """A cursor for the last page (50 rows) of a keyset listing, minted as the project
        mints its own (same secret)."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute(sql, params)
            values = list(cur.fetchone())
        return cursors.encode_cursor(scope, values)

    def timed_sql(self, sql: str) -> float:
        self.conn.autocommit = True
        try:
            with self.conn.cursor() as cur:
                started = time.perf_counter()
                cur.execute(sql)
                return time.perf_counter() - started
        finally:
            self.conn.autocommit = False

    def close(self) -> None:
        self.conn.close()


# -- measuring ---------------------------------------------------------------------------------


def timed_calls(call: Callable[[], httpx.Response], repeat: int, warm: int = 2) -> dict[str, Any]:
    for _ in range(warm):
        _expect_ok(call())
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        times.append(time.perf_counter() - started)
        _expect_ok(response)
    return {"p50_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000, "n": repeat}


def _expect_ok(response: httpx.Response) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")


def measure_size(
    loader: Loader, base: str, ids: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    tenant = {"Authorization": f"Bearer {TENANT_KEY}"}
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    out: dict[str, Any] = {}
    match = loader.match_id(0)
    history_cursor = loader.cursor_at_end(
        "SELECT captured_at, id FROM odds_snapshots WHERE match_id = %s "
        "ORDER BY captured_at DESC, id DESC OFFSET 50 LIMIT 1",
        (match,),
        "odds_snapshots:captured_at,id",
    )
    bets_cursor = loader.cursor_at_end(
        "SELECT placed_at, id FROM bets WHERE tenant_id = %s "
        "ORDER BY placed_at DESC, id DESC OFFSET 50 LIMIT 1",
        (ids["tenant"],),
        "bets:placed_at,id",
    )
    with httpx.Client(base_url=base, timeout=600) as client:
        reads = {
            "latest odds (one match)": lambda: client.get(
                f"/v1/matches/{match}/odds", headers=tenant
            ),
            "odds history, last page": lambda: client.get(
                f"/v1/matches/{match}/odds/history",
                params={"limit": 50, "cursor": history_cursor},
                headers=tenant,
            ),
            "bets, last keyset page": lambda: client.get(
                "/v1/bets", params={"limit": 50, "cursor": bets_cursor}, headers=tenant
            ),
            "performance, largest strategy": lambda: client.get(
                f"/v1/strategies/{ids['big_strategy']}/performance", headers=tenant
            ),
            "bets include_total (tenant)": lambda: client.get(
                "/v1/bets", params={"limit": 1, "include_total": "true"}, headers=tenant
            ),
        }
        for name, call in reads.items():
            out[name] = timed_calls(call, args.repeat)
            print(f"    {name:<36} p50 {out[name]['p50_ms']:9.1f} ms", flush=True)
        last = client.get("/v1/bets", params={"limit": 1, "include_total": "true"}, headers=tenant)
        out["tenant_bets"] = last.json()["total"]
        out["largest_strategy_bets"] = client.get(
            f"/v1/strategies/{ids['big_strategy']}/performance", headers=tenant
        ).json()["bets"]

        # The leaderboard refresh, as the project runs it: after a result commits (a match
        # without bets: the request is the lock, the match update and the refresh).
        times = []
        for rep in range(args.settle_repeat):
            empty = loader.settlement_match(0, tag=10_000 + rep)
            started = time.perf_counter()
            _expect_ok(
                client.post(
                    f"/v1/matches/{empty}/result",
                    json={"home_score": 2, "away_score": 1},
                    headers=admin,
                )
            )
            times.append(time.perf_counter() - started)
        out["leaderboard refresh (result, no bets)"] = {
            "p50_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000,
            "n": len(times),
        }
        sql = [loader.timed_sql("SELECT refresh_strategy_leaderboard()") for _ in range(3)]
        out["leaderboard refresh (SQL alone)"] = {
            "p50_ms": statistics.median(sql) * 1000,
            "max_ms": max(sql) * 1000,
            "n": len(sql),
        }
        for name in ("leaderboard refresh (result, no bets)", "leaderboard refresh (SQL alone)"):
            print(f"    {name:<36} p50 {out[name]['p50_ms']:9.1f} ms", flush=True)

        times = []
        for rep in range(args.settle_repeat):
            busy = loader.settlement_match(SETTLE_BETS, tag=rep)
            since = loader.settle_started
            started = time.perf_counter()
            response = client.post(
                f"/v1/matches/{busy}/result", json={"home_score": 2, "away_score": 1}, headers=admin
            )
            times.append(time.perf_counter() - started)
            _expect_ok(response)
            settled = response.json()["settled_bets"]
            if settled != SETTLE_BETS:
                raise RuntimeError(f"settled {settled} bets, expected {SETTLE_BETS}")
            loader.forget_settlement(busy, since)
        name = f"settlement, {SETTLE_BETS:,} open bets"
        out[name] = {
            "p50_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000,
            "n": len(times),
        }
        print(f"    {name:<36} p50 {out[name]['p50_ms']:9.1f} ms", flush=True)
    return out


def report(
    sizes: list[dict[str, Any]], args: argparse.Namespace, elapsed: float, pg_desc: str
) -> None:
    names = [k for k, v in sizes[0]["times"].items() if isinstance(v, dict)]
    print()
    print(f"PostgreSQL: {pg_desc}; project: 1 worker, default settings; p50 of repeated calls")
    header = (
        f"{'operation':<38}"
        + "".join(f"{s['label']:>12}" for s in sizes)
        + f"{'largest/smallest':>18}"
    )
    print(header)
    rows = []
    for name in names:
        values = [s["times"][name]["p50_ms"] for s in sizes]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        print(f"{name:<38}" + "".join(f"{v:10.1f}ms" for v in values) + f"{ratio:17.2f}x")
        rows.append({"operation": name, "p50_ms": values, "ratio_largest_smallest": ratio})
    print()
    for s in sizes:
        c = s["counts"]
        print(
            f"  {s['label']:>5}: {c['odds_snapshots']:>11,} odds snapshots, {c['bets']:>9,} bets, "
            f"{c['audit_log']:>9,} audit rows, {c['matches']:>6,} matches; tenant 0 has "
            f"{s['times']['tenant_bets']:,} bets, the largest strategy "
            f"{s['times']['largest_strategy_bets']:,}; loaded in "
            + ", ".join(f"{k} {v:.0f} s" for k, v in s["load_s"].items())
        )
    print(f"\nrun time {elapsed:.0f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "scale.json"
    out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "settings": vars(args),
                "postgres": pg_desc,
                "run_seconds": elapsed,
                "operations": rows,
                "sizes": sizes,
            },
            indent=2,
            default=str,
        )
    )
    print(f"written {out.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="oddsdesk: time vs data size")
    parser.add_argument("--sizes", default="0.01,0.1,1", help="fractions of the full data set")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per read")
    parser.add_argument("--settle-repeat", type=int, default=3, help="settlements per size")
    parser.add_argument(
        "--pg",
        choices=("private", "local", "embedded"),
        default="private",
        help="PostgreSQL server (BENCH_DATABASE_URL wins); see benchmarks/pg.py",
    )
    args = parser.parse_args(argv)
    configure_logging("ERROR")
    cursors.use_keys([CURSOR_SECRET.encode()])
    started = time.monotonic()
    fractions = sorted(float(x) for x in args.sizes.split(","))
    db_server = pg.server(args.pg)
    name = f"oddsdesk_scale_{uuid.uuid4().hex[:10]}"
    project: servers.Running | None = None
    loader: Loader | None = None
    try:
        print(f"- PostgreSQL: {db_server.description}", flush=True)
        localdb.ensure_database(db_server.url, name)
        url = localdb.with_database(db_server.url, name)
        dsn = localdb.libpq_dsn(url)
        print(f"- database {name}: migrating ...", flush=True)
        migrate.upgrade(url)
        loader = Loader(dsn)
        ids = loader.reference()
        project = servers.start_project(
            "project",
            ROOT,
            url.render_as_string(hide_password=False),
            ADMIN_KEY,
            CURSOR_SECRET,
            1,
            "/health/live",
            {},
        )
        sizes = []
        for fraction in fractions:
            label = f"{fraction * 100:g}%"
            print(f"- loading up to {label} (COPY) ...", flush=True)
            load_s = loader.grow(fraction)
            counts = loader.count()
            print(
                f"  {counts['odds_snapshots']:,} snapshots, {counts['bets']:,} bets, "
                f"{counts['audit_log']:,} audit rows in "
                + ", ".join(f"{k} {v:.0f} s" for k, v in load_s.items()),
                flush=True,
            )
            print(f"- measuring at {label} ...", flush=True)
            times = measure_size(loader, project.base, ids, args)
            sizes.append(
                {
                    "fraction": fraction,
                    "label": label,
                    "counts": counts,
                    "load_s": load_s,
                    "times": times,
                }
            )
        report(sizes, args, time.monotonic() - started, db_server.description)
    finally:
        if project is not None:
            project.stop()
        if loader is not None:
            loader.close()
        try:
            localdb.drop_database(db_server.url, name)
        finally:
            db_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
