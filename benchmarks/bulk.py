"""Bulk cases of `make bench`: odds batches, the season import, settling a busy match.

Each is timed end to end against its floor in the same run (same database, same rows):
- POST /v1/odds/batch of 100,000 rows (CSV and JSON) vs raw psycopg2 `copy_expert` of the
  same rows into `odds_snapshots`;
- importing the six bundled seasons (seconds, snapshots/s);
- POST /v1/matches/{id}/result with 10,000 open bets over 100 strategies vs the same
  settlement as hand-written SQL in one psycopg2 transaction.
"""

from __future__ import annotations

import io
import json
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg2

from benchmarks import pg

ROOT = Path(__file__).resolve().parents[1]
ROWS = 100_000
SETTLE_BETS, SETTLE_STRATEGIES = 10_000, 100


def _matches(dsn: str, count: int, past: bool = True) -> list[int]:
    """Fresh matches (new team pairs) so every batch's rows are new."""
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        tag = uuid.uuid4().hex[:8]
        cur.execute(
            "INSERT INTO teams (name) SELECT 'Bulk ' || %s || ' ' || g "
            "FROM generate_series(1, %s) g RETURNING id",
            (tag, 2 * count),
        )
        ids = [r[0] for r in cur.fetchall()]
        kickoff = (
            datetime.now(UTC) - timedelta(hours=3) if past else datetime(2035, 1, 1, tzinfo=UTC)
        )
        out = []
        for i in range(count):
            cur.execute(
                "INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at) "
                "VALUES ('Bulk', '2035-36', %s, %s, %s) RETURNING id",
                (ids[2 * i], ids[2 * i + 1], kickoff),
            )
            out.append(cur.fetchone()[0])
    conn.close()
    return out


ROWS_FROM = datetime(2024, 1, 1, tzinfo=UTC)  # the batches' snapshots are of 2024


def _rows(match_ids: list[int], bookmaker_id: int) -> list[tuple[Any, ...]]:
    """100,000 distinct snapshots: 5 selections x N timestamps over the given matches."""
    start = ROWS_FROM
    per_match = ROWS // len(match_ids)
    rows = []
    for m in match_ids:
        for i in range(per_match // 5):
            at = (start + timedelta(minutes=i)).isoformat()
            for market, selection in (
                ("1x2", "home"),
                ("1x2", "draw"),
                ("1x2", "away"),
                ("ou2.5", "over"),
                ("ou2.5", "under"),
            ):
                rows.append((m, bookmaker_id, market, selection, "2.150", at))
    return rows[:ROWS]


def _csv(rows: list[tuple[Any, ...]], header: bool) -> bytes:
    lines = ["match_id,bookmaker_id,market,selection,price,captured_at"] if header else []
    lines += [",".join(str(v) for v in r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def odds_batches(
    base: str, admin_key: str, dsn: str, bookmaker_id: int, rounds: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {admin_key}"}
    results: dict[str, list[float]] = {"csv": [], "json": [], "copy": []}
    with httpx.Client(base_url=base, timeout=600) as client:
        for _ in range(rounds):
            for kind in ("csv", "json", "copy"):
                rows = _rows(_matches(dsn, 20), bookmaker_id)
                if kind == "csv":
                    body = _csv(rows, header=True)
                    seconds = _timed(
                        lambda body=body: _check(
                            client.post(
                                "/v1/odds/batch",
                                content=body,
                                headers={**headers, "Content-Type": "text/csv"},
                            )
                        )
                    )
                elif kind == "json":
                    body = json.dumps(
                        {
                            "snapshots": [
                                dict(
                                    zip(
                                        (
                                            "match_id",
                                            "bookmaker_id",
                                            "market",
                                            "selection",
                                            "price",
                                            "captured_at",
                                        ),
                                        r,
                                        strict=True,
                                    )
                                )
                                for r in rows
                            ]
                        }
                    ).encode()
                    seconds = _timed(
                        lambda body=body: _check(
                            client.post(
                                "/v1/odds/batch",
                                content=body,
                                headers={**headers, "Content-Type": "application/json"},
                            )
                        )
                    )
                else:
                    data = _csv(rows, header=False)
                    seconds = _timed(lambda data=data: _raw_copy(dsn, data))
                results[kind].append(ROWS / seconds)
    floor = statistics.median(results["copy"])
    return {
        "rows": ROWS,
        "copy_rows_per_s": floor,
        "csv_rows_per_s": statistics.median(results["csv"]),
        "json_rows_per_s": statistics.median(results["json"]),
        "csv_ratio": statistics.median(results["csv"]) / floor,
        "json_ratio": statistics.median(results["json"]) / floor,
        "rounds": results,
    }


def _check(response: httpx.Response) -> None:
    if response.status_code != 200 or response.json()["inserted"] != ROWS:
        raise RuntimeError(f"batch failed: {response.status_code} {response.text[:300]}")


def _raw_copy(dsn: str, data: bytes) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        # As the app's batch does: the partition of the rows' year, if missing.
        pg.ensure_partitions(cur, "odds_snapshots", ROWS_FROM)
        cur.copy_expert(
            "COPY odds_snapshots (match_id, bookmaker_id, market, selection, price, "
            "captured_at) FROM STDIN WITH (FORMAT csv)",
            io.BytesIO(data),
        )
    conn.close()


def season_import(dsn_url: Any) -> dict[str, Any]:
    from backend.core.config import Settings
    from backend.core.database import create_database
    from backend.scripts.import_football_data import import_files

    db = create_database(Settings(database_url=dsn_url.render_as_string(hide_password=False)))
    try:
        summary = import_files(db, sorted((ROOT / "data" / "football-data").glob("E0_*.csv")))
    finally:
        db.dispose()
    return {
        "files": summary.files,
        "matches": summary.matches,
        "snapshots": summary.inserted,
        "seconds": summary.seconds,
        "snapshots_per_s": summary.inserted / summary.seconds,
    }


def _busy_match(dsn: str, tenant_id: str, bookmaker_id: int) -> int:
    """A finished-able match with 10,000 open bets over 100 strategies."""
    (match_id,) = _matches(dsn, 1, past=True)
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SET app.bypass_rls = 'on'")
        tag = uuid.uuid4().hex[:8]
        cur.execute(
            "INSERT INTO strategies (id, tenant_id, name, bankroll, initial_bankroll, max_stake) "
            "SELECT gen_random_uuid(), %s, 'settle ' || %s || ' ' || g, 1e6, 1e6, 100 "
            "FROM generate_series(1, %s) g RETURNING id",
            (tenant_id, tag, SETTLE_STRATEGIES),
        )
        strategies = [r[0] for r in cur.fetchall()]
        cur.execute(
            "INSERT INTO bets (id, tenant_id, strategy_id, match_id, bookmaker_id, market, "
            "selection, stake, price, potential_return) "
            "SELECT gen_random_uuid(), %s, (%s::uuid[])[1 + g %% %s], %s, %s, '1x2', "
            "(ARRAY['home','draw','away'])[1 + g %% 3], 10, 2.5, 25 "
            "FROM generate_series(1, %s) g",
            (tenant_id, strategies, SETTLE_STRATEGIES, match_id, bookmaker_id, SETTLE_BETS),
        )
        pg.ensure_partitions(cur, "odds_snapshots", datetime.now(UTC) - timedelta(hours=4))
        cur.execute(
            "INSERT INTO odds_snapshots (match_id, bookmaker_id, market, selection, price, "
            "captured_at) SELECT %s, %s, '1x2', s, 2.4, now() - interval '4 hours' "
            "FROM unnest(ARRAY['home','draw','away']) s",
            (match_id, bookmaker_id),
        )
    conn.close()
    return match_id


_RAW_SETTLE = """
WITH closing AS (
    SELECT DISTINCT ON (o.market, o.selection, o.line) o.market, o.selection, o.line, o.price
      FROM odds_snapshots o JOIN bookmakers bk ON bk.id = o.bookmaker_id AND bk.is_sharp
     WHERE o.match_id = %(m)s AND o.captured_at <= (SELECT kickoff_at FROM matches WHERE id = %(m)s)
     ORDER BY o.market, o.selection, o.line, o.bookmaker_id, o.captured_at DESC
), changed AS (
    UPDATE bets b SET status = CASE WHEN b.selection = 'home' THEN 'won' ELSE 'lost' END,
           settled_at = now(), closing_price = c.price, clv = round(b.price / c.price - 1, 4),
           pnl = CASE WHEN b.selection = 'home' THEN round(b.stake * b.price, 2) - b.stake
                      ELSE -b.stake END
      FROM bets o LEFT JOIN closing c ON c.market = o.market AND c.selection = o.selection
                                     AND c.line IS NOT DISTINCT FROM o.line
     WHERE b.id = o.id AND o.match_id = %(m)s AND o.status = 'open'
    RETURNING b.strategy_id, b.tenant_id,
              CASE WHEN b.status = 'won' THEN round(b.stake * b.price, 2) ELSE 0 END AS r
)
UPDATE strategies s SET bankroll = s.bankroll + c.amount, version = s.version + 1
  FROM (SELECT tenant_id, strategy_id, sum(r) AS amount FROM changed GROUP BY 1, 2) c
 WHERE s.id = c.strategy_id AND s.tenant_id = c.tenant_id AND c.amount > 0
"""


def settlement(
    base: str, admin_key: str, dsn: str, tenant_id: str, bookmaker_id: int, rounds: int
) -> dict[str, Any]:
    project, floor = [], []
    with httpx.Client(base_url=base, timeout=600) as client:
        for _ in range(rounds):
            match_id = _busy_match(dsn, tenant_id, bookmaker_id)
            seconds = _timed(lambda m=match_id: _settle_api(client, admin_key, m))
            project.append(seconds)
            match_id = _busy_match(dsn, tenant_id, bookmaker_id)
            floor.append(_timed(lambda m=match_id: _settle_raw(dsn, m)))
    return {
        "bets": SETTLE_BETS,
        "strategies": SETTLE_STRATEGIES,
        "project_s": statistics.median(project),
        "floor_s": statistics.median(floor),
        "ratio": statistics.median(floor) / statistics.median(project),
        "rounds": {"project": project, "floor": floor},
    }


def _settle_api(client: httpx.Client, admin_key: str, match_id: int) -> None:
    response = client.post(
        f"/v1/matches/{match_id}/result",
        json={"home_score": 1, "away_score": 0},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    if response.status_code != 200 or response.json()["settled_bets"] != SETTLE_BETS:
        raise RuntimeError(f"settlement failed: {response.status_code} {response.text[:300]}")


def _settle_raw(dsn: str, match_id: int) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE matches SET status = 'finished', home_score = 1, away_score = 0 WHERE id = %s",
            (match_id,),
        )
        cur.execute(_RAW_SETTLE, {"m": match_id})
    conn.close()
