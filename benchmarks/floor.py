"""The floor: the same work done by raw psycopg2 behind a bare ASGI app, no framework, no ORM.

Every endpoint `make bench` measures, at the project's path, answering the same JSON (the
benchmark compares the two bodies once per case): the same rows read by the same query
(one statement per request, where the project may need two: the floor merges an existence
check into its read), keyset cursors signed exactly as the project signs them (HMAC-SHA256
under the same CURSOR_SECRET, so `next_cursor` is byte-for-byte the project's and the
project's cursors work here), money and prices as decimal strings, timestamps in UTC with `Z`.

Served by the same uvicorn (`--workers` as the project) with a pool of FLOOR_POOL (10)
psycopg2 connections per worker in autocommit mode (a read is one round trip, as the
project's read-only units are), blocking work in AnyIO's thread pool bounded to the pool
(the project bounds its own the same way), and `json.dumps` answers (FLOOR_JSON=orjson for
orjson). It connects as the benchmark's superuser: PostgreSQL evaluates no row-level-security
policy and no key check for it, the tenant filter is in its WHERE clauses.

Run: uvicorn benchmarks.floor:app (FLOOR_DSN, FLOOR_TENANT_ID, FLOOR_KEY, FLOOR_ACTOR,
FLOOR_CURSOR_SECRET in the environment).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import queue
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import psycopg2

DSN = os.environ["FLOOR_DSN"]
TENANT_ID = os.environ["FLOOR_TENANT_ID"]
KEY = os.environ["FLOOR_KEY"].encode()
ACTOR = os.environ.get("FLOOR_ACTOR", "floor")
CURSOR_KEY = os.environ["FLOOR_CURSOR_SECRET"].encode()
POOL_SIZE = int(os.environ.get("FLOOR_POOL", "10"))

if os.environ.get("FLOOR_JSON") == "orjson":
    import orjson

    dumps: Callable[[Any], bytes] = orjson.dumps
else:

    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()


class Pool:
    """POOL_SIZE connections opened at start-up, handed out last-in first-out; a request
    waits for one when all are busy (as SQLAlchemy's pool makes the project's wait)."""

    def __init__(self, size: int) -> None:
        self._free: queue.LifoQueue[Any] = queue.LifoQueue()
        for _ in range(size):
            conn = psycopg2.connect(DSN, application_name="floor", options="-c timezone=UTC")
            conn.autocommit = True
            self._free.put(conn)

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        conn = self._free.get()
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            self._free.put(conn)

    def close(self) -> None:
        while not self._free.empty():
            self._free.get().close()


POOL = Pool(POOL_SIZE)


class Problem(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


# -- output formats (the project's schemas) ----------------------------------------------------

Q2, Q3, Q4 = Decimal("0.01"), Decimal("0.001"), Decimal("0.0001")


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dec(value: Any, quantum: Decimal) -> str | None:
    if value is None:
        return None
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


# -- cursors: exactly the project's (backend/repositories/cursor.py) -----------------------------


def _tag(scope: str, body: bytes) -> bytes:
    return hmac.new(CURSOR_KEY, scope.encode() + b"\x00" + body, hashlib.sha256).digest()[:8]


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def encode_cursor(scope: str, values: list[Any]) -> str:
    body = json.dumps(
        [_cursor_value(v) for v in values], separators=(",", ":"), ensure_ascii=False
    ).encode()
    return base64.urlsafe_b64encode(_tag(scope, body) + body).rstrip(b"=").decode()


def decode_cursor(scope: str, cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, body = raw[:8], raw[8:]
        if len(tag) != 8 or not hmac.compare_digest(tag, _tag(scope, body)):
            raise Problem(422)
        values = json.loads(body)
        if not isinstance(values, list) or len(values) != len(kinds):
            raise Problem(422)
        return [
            datetime.fromisoformat(v) if k is datetime else k(v)
            for v, k in zip(values, kinds, strict=True)
        ]
    except (ValueError, TypeError):
        raise Problem(422) from None


def keyset_page(
    select: str,
    where: list[str],
    params: list[Any],
    keys: tuple[str, str],
    scope: str,
    kinds: tuple[type, ...],
    query: dict[str, str],
    key_of: Callable[[tuple[Any, ...]], list[Any]],
) -> tuple[list[tuple[Any, ...]], str | None]:
    """One page ordered by `keys` after the cursor, and the next page's cursor."""
    limit = int(query.get("limit", 50))
    if not 1 <= limit <= 500:
        raise Problem(422)
    where = list(where)
    params = list(params)
    if "cursor" in query:
        where.append(f"({keys[0]}, {keys[1]}) > (%s, %s)")
        params += decode_cursor(scope, query["cursor"], kinds)
    sql = select + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY {keys[0]}, {keys[1]} LIMIT %s"
    with POOL.cursor() as cur:
        cur.execute(sql, [*params, limit + 1])
        rows = cur.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(scope, key_of(rows[-1]))
    return rows, next_cursor


def page(items: list[dict[str, Any]], next_cursor: str | None) -> bytes:
    return dumps({"items": items, "next_cursor": next_cursor})


# -- reads ----------------------------------------------------------------------------------------

TEAM_COLUMNS = "id, name, country, league, created_at, updated_at, created_by, updated_by, version"


def _team(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": r[0],
        "name": r[1],
        "country": r[2],
        "league": r[3],
        "created_at": ts(r[4]),
        "updated_at": ts(r[5]),
        "created_by": r[6],
        "updated_by": r[7],
        "version": r[8],
    }


def get_team(team_id: int) -> bytes:
    with POOL.cursor() as cur:
        cur.execute(f"SELECT {TEAM_COLUMNS} FROM teams WHERE id = %s", (team_id,))
        row = cur.fetchone()
    if row is None:
        raise Problem(404)
    return dumps(_team(row))


def list_teams(query: dict[str, str]) -> bytes:
    rows, cursor = keyset_page(
        f"SELECT {TEAM_COLUMNS} FROM teams",
        [],
        [],
        ("name", "id"),
        "teams:name,id",
        (str, int),
        query,
        lambda r: [r[1], r[0]],
    )
    return page([_team(r) for r in rows], cursor)


def team_profile(team_id: int) -> bytes:
    with POOL.cursor() as cur:
        cur.execute(
            "SELECT t.id, t.name, t.country, t.league, t.created_at, t.updated_at, "
            "t.created_by, t.updated_by, t.version, p.matches, p.goals_for, p.goals_against, "
            "p.wins, p.draws, p.home_matches, p.home_wins, p.away_matches, p.away_wins, "
            "p.form, p.computed_at "
            "FROM analytics.team_profiles p JOIN teams t ON t.id = p.team_id "
            "WHERE p.team_id = %s",
            (team_id,),
        )
        r = cur.fetchone()
    if r is None:
        raise Problem(404)
    matches = r[9]

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return dumps(
        {
            "team": _team(r[:9]),
            "matches": matches,
            "goals_for_per_match": rate(r[10], matches),
            "goals_against_per_match": rate(r[11], matches),
            "win_rate": rate(r[12], matches),
            "draw_rate": rate(r[13], matches),
            "home_win_rate": rate(r[15], r[14]),
            "away_win_rate": rate(r[17], r[16]),
            "form": list(r[18]),
            "computed_at": ts(r[19]),
        }
    )


def list_bookmakers(query: dict[str, str]) -> bytes:
    rows, cursor = keyset_page(
        "SELECT id, name, is_sharp, created_at, updated_at, version FROM bookmakers",
        [],
        [],
        ("name", "id"),
        "bookmakers:name,id",
        (str, int),
        query,
        lambda r: [r[1], r[0]],
    )
    items = [
        {
            "id": r[0],
            "name": r[1],
            "is_sharp": r[2],
            "created_at": ts(r[3]),
            "updated_at": ts(r[4]),
            "version": r[5],
        }
        for r in rows
    ]
    return page(items, cursor)


def list_matches(query: dict[str, str]) -> bytes:
    rows, cursor = keyset_page(
        "SELECT m.id, m.league, m.season, h.id, h.name, a.id, a.name, m.kickoff_at, "
        "m.status, m.home_score, m.away_score, m.created_at, m.updated_at, m.version "
        "FROM matches m JOIN teams h ON h.id = m.home_team_id "
        "JOIN teams a ON a.id = m.away_team_id",
        [],
        [],
        ("m.kickoff_at", "m.id"),
        "matches:kickoff_at,id",
        (datetime, int),
        query,
        lambda r: [r[7], r[0]],
    )
    items = [
        {
            "id": r[0],
            "league": r[1],
            "season": r[2],
            "home_team": {"id": r[3], "name": r[4]},
            "away_team": {"id": r[5], "name": r[6]},
            "kickoff_at": ts(r[7]),
            "status": r[8],
            "home_score": r[9],
            "away_score": r[10],
            "created_at": ts(r[11]),
            "updated_at": ts(r[12]),
            "version": r[13],
        }
        for r in rows
    ]
    return page(items, cursor)


SNAPSHOT_COLUMNS = "id, match_id, bookmaker_id, market, selection, line, price, captured_at"


def _snapshot(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": r[0],
        "match_id": r[1],
        "bookmaker_id": r[2],
        "market": r[3],
        "selection": r[4],
        "line": dec(r[5], Q2),
        "price": dec(r[6], Q3),
        "captured_at": ts(r[7]),
    }


_LATEST = """
    SELECT m.id, s.id, s.match_id, s.bookmaker_id, s.market, s.selection, s.line, s.price,
           s.captured_at
      FROM matches m
      LEFT JOIN LATERAL (
          SELECT DISTINCT ON (o.bookmaker_id, o.market, o.selection, o.line) o.*
            FROM odds_snapshots o
           WHERE o.match_id = m.id AND o.captured_at <= {until}
           ORDER BY o.bookmaker_id, o.market, o.selection, o.line, o.captured_at DESC
      ) s ON true
     WHERE m.id = %s
     ORDER BY s.bookmaker_id, s.market, s.selection, s.line
"""
_LATEST_NOW = _LATEST.format(until="now()")
_CLOSING = _LATEST.format(until="m.kickoff_at")


def latest_odds(match_id: int, closing: bool) -> bytes:
    with POOL.cursor() as cur:
        cur.execute(_CLOSING if closing else _LATEST_NOW, (match_id,))
        rows = cur.fetchall()
    if not rows:
        raise Problem(404)
    return dumps({"items": [_snapshot(r[1:]) for r in rows if r[1] is not None]})


def odds_history(match_id: int, query: dict[str, str]) -> bytes:
    rows, cursor = keyset_page(
        f"SELECT {SNAPSHOT_COLUMNS} FROM odds_snapshots",
        ["match_id = %s"],
        [match_id],
        ("captured_at", "id"),
        "odds_snapshots:captured_at,id",
        (datetime, int),
        query,
        lambda r: [r[7], r[0]],
    )
    if not rows and "cursor" not in query:
        with POOL.cursor() as cur:
            cur.execute("SELECT 1 FROM matches WHERE id = %s", (match_id,))
            if cur.fetchone() is None:
                raise Problem(404)
    return page([_snapshot(r) for r in rows], cursor)


def list_strategies(query: dict[str, str]) -> bytes:
    rows, cursor = keyset_page(
        "SELECT id, name, description, status, bankroll, initial_bankroll, max_stake, "
        "kill_reason, created_at, updated_at, created_by, updated_by, version, "
        "max_match_exposure, price_tolerance FROM strategies",
        ["tenant_id = %s"],
        [TENANT_ID],
        ("created_at", "id"),
        "strategies:created_at,id",
        (datetime, str),
        query,
        lambda r: [r[8], r[0]],
    )
    items = [
        {
            "id": r[0],
            "name": r[1],
            "description": r[2],
            "status": r[3],
            "bankroll": dec(r[4], Q2),
            "initial_bankroll": dec(r[5], Q2),
            "max_stake": dec(r[6], Q2),
            "max_match_exposure": dec(r[13], Q2),
            "price_tolerance": dec(r[14], Q4),
            "kill_reason": r[7],
            "created_at": ts(r[8]),
            "updated_at": ts(r[9]),
            "created_by": r[10],
            "updated_by": r[11],
            "version": r[12],
        }
        for r in rows
    ]
    return page(items, cursor)


BET_COLUMNS = (
    "id, strategy_id, match_id, bookmaker_id, market, selection, line, stake, price, "
    "potential_return, status, placed_at, settled_at, closing_price, clv, pnl, created_by"
)


def _bet(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": r[0],
        "strategy_id": r[1],
        "match_id": r[2],
        "bookmaker_id": r[3],
        "market": r[4],
        "selection": r[5],
        "line": dec(r[6], Q2),
        "stake": dec(r[7], Q2),
        "price": dec(r[8], Q3),
        "potential_return": dec(r[9], Q2),
        "status": r[10],
        "placed_at": ts(r[11]),
        "settled_at": ts(r[12]),
        "closing_price": dec(r[13], Q3),
        "clv": dec(r[14], Q4),
        "pnl": dec(r[15], Q2),
        "created_by": r[16],
    }


def list_bets(query: dict[str, str]) -> bytes:
    where, params = ["tenant_id = %s"], [TENANT_ID]
    if "strategy_id" in query:
        where.append("strategy_id = %s")
        params.append(str(uuid.UUID(query["strategy_id"])))
    rows, cursor = keyset_page(
        f"SELECT {BET_COLUMNS} FROM bets",
        where,
        params,
        ("placed_at", "id"),
        "bets:placed_at,id",
        (datetime, str),
        query,
        lambda r: [r[11], r[0]],
    )
    return page([_bet(r) for r in rows], cursor)


def list_audit(query: dict[str, str]) -> bytes:
    rows, cursor = keyset_page(
        "SELECT id, occurred_at, actor, action, entity_type, entity_id, changes, "
        "change_reason, request_id FROM audit_log",
        ["tenant_id = %s"],
        [TENANT_ID],
        ("occurred_at", "id"),
        "audit_log:occurred_at,id",
        (datetime, str),
        query,
        lambda r: [r[1], r[0]],
    )
    items = [
        {
            "id": r[0],
            "occurred_at": ts(r[1]),
            "actor": r[2],
            "action": r[3],
            "entity_type": r[4],
            "entity_id": r[5],
            "changes": r[6],
            "change_reason": r[7],
            "request_id": r[8],
        }
        for r in rows
    ]
    return page(items, cursor)


_SETTLED = "status IN ('won', 'lost')"


def performance(strategy_id: str) -> bytes:
    with POOL.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM strategies WHERE tenant_id = %(t)s AND id = %(s)s), "
            "count(*), count(*) FILTER (WHERE status = 'open'), "
            f"count(*) FILTER (WHERE {_SETTLED}), count(*) FILTER (WHERE status = 'void'), "
            f"coalesce(sum(stake) FILTER (WHERE {_SETTLED}), 0), "
            "coalesce(sum(round(stake * price, 2)) FILTER (WHERE status = 'won'), 0), "
            f"avg(clv) FILTER (WHERE {_SETTLED} AND clv IS NOT NULL), "
            "avg(CASE WHEN clv > 0 THEN 1 ELSE 0 END) "
            f"  FILTER (WHERE {_SETTLED} AND clv IS NOT NULL) "
            "FROM bets WHERE tenant_id = %(t)s AND strategy_id = %(s)s",
            {"t": TENANT_ID, "s": str(uuid.UUID(strategy_id))},
        )
        found, bets, open_, settled, void, staked, returned, avg_clv, beat = cur.fetchone()
    if not found:
        raise Problem(404)
    staked, returned = Decimal(staked), Decimal(returned)
    pnl = returned - staked
    return dumps(
        {
            "bets": bets,
            "open": open_,
            "settled": settled,
            "void": void,
            "staked": dec(staked, Q2),
            "returned": dec(returned, Q2),
            "pnl": dec(pnl, Q2),
            "roi": dec(pnl / staked, Q4) if staked else None,
            "avg_clv": dec(avg_clv, Q4),
            "beat_closing_rate": dec(beat, Q4),
        }
    )


def leaderboard(query: dict[str, str]) -> bytes:
    limit = int(query.get("limit", 20))
    if not 1 <= limit <= 100:
        raise Problem(422)
    with POOL.cursor() as cur:
        cur.execute(
            "SELECT strategy_id, name, settled, staked, pnl, avg_clv FROM strategy_leaderboard "
            "WHERE tenant_id = %s ORDER BY avg_clv DESC NULLS LAST, pnl DESC, name, strategy_id "
            "LIMIT %s",
            (TENANT_ID, limit),
        )
        rows = cur.fetchall()
    items = [
        {
            "rank": i,
            "strategy": {"id": r[0], "name": r[1]},
            "settled": r[2],
            "pnl": dec(r[4], Q2),
            "roi": dec(r[4] / r[3], Q4) if r[3] else None,
            "avg_clv": dec(r[5], Q4),
        }
        for i, r in enumerate(rows, start=1)
    ]
    return dumps({"items": items})


# -- the write: a bet ------------------------------------------------------------------------------

# The project's locks and conditional debit and insert (one statement), in a transaction we
# drive: BEGIN rides with them; the audit rows, the bet's event and the idempotency record go
# out with the COMMIT. The same rules as the project's: the idempotency key claimed (its lock,
# without waiting) with no live answer stored under it, the market's shared lock, the
# strategy's lock (its exposure sum), then the debit's conditions (exposure limit, bookmaker
# known, price guard against the bookmaker's latest snapshot). The floor answers a refused
# bet with a bare 409; it never reads why.
_DEBIT_AND_INSERT = """
BEGIN;
SELECT set_config('oddsdesk.key_locked',
                  pg_try_advisory_xact_lock(hashtextextended(%(lock_id)s, 0))::text, true),
       pg_advisory_xact_lock_shared(1, %(match)s);
SELECT pg_advisory_xact_lock(2, hashtext(%(strategy)s))
 WHERE current_setting('oddsdesk.key_locked')::boolean;
WITH debit AS (
    UPDATE strategies
       SET bankroll = bankroll - %(stake)s, version = version + 1,
           updated_at = statement_timestamp(), updated_by = %(actor)s
     WHERE tenant_id = %(tenant)s AND id = %(strategy)s AND status = 'active'
       AND bankroll >= %(stake)s AND max_stake >= %(stake)s
       AND EXISTS (SELECT 1 FROM matches WHERE id = %(match)s AND status = 'scheduled'
                                           AND kickoff_at > statement_timestamp())
       AND (max_match_exposure IS NULL
            OR max_match_exposure >= %(stake)s + (
                SELECT coalesce(sum(stake), 0) FROM bets
                 WHERE tenant_id = %(tenant)s AND strategy_id = %(strategy)s
                   AND match_id = %(match)s AND status = 'open'))
       AND NOT EXISTS (
            SELECT 1 FROM (SELECT price FROM odds_snapshots
                            WHERE match_id = %(match)s AND bookmaker_id = %(bookmaker)s
                              AND market = %(market)s AND selection = %(selection)s
                              AND line IS NOT DISTINCT FROM %(line)s::numeric
                            ORDER BY line DESC, captured_at DESC LIMIT 1) o
             WHERE %(price)s > o.price * (1 + coalesce(price_tolerance, 0.02)))
       AND current_setting('oddsdesk.key_locked')::boolean
       AND NOT EXISTS (SELECT 1 FROM idempotency_keys
                        WHERE tenant_id = %(tenant)s AND key = %(key)s AND expires_at > now())
       AND EXISTS (SELECT 1 FROM bookmakers WHERE id = %(bookmaker)s)
    RETURNING bankroll
), inserted AS (
    INSERT INTO bets (id, tenant_id, strategy_id, match_id, bookmaker_id, market, selection,
                      line, stake, price, potential_return, created_by, updated_by)
    SELECT %(id)s::uuid, %(tenant)s::uuid, %(strategy)s::uuid, %(match)s::integer,
           %(bookmaker)s::integer, %(market)s::text, %(selection)s::text, %(line)s::numeric,
           %(stake)s::numeric,
           %(price)s::numeric, %(potential)s::numeric, %(actor)s::text, %(actor)s::text
      FROM debit
    RETURNING placed_at
)
SELECT inserted.placed_at, debit.bankroll FROM inserted, debit
"""
_AUDIT_AND_RECORD = """
INSERT INTO audit_log (tenant_id, actor, action, entity_type, entity_id, changes, request_id)
VALUES (%(tenant)s, %(actor)s, 'create', 'bet', %(id)s, %(bet_changes)s, %(request)s),
       (%(tenant)s, %(actor)s, 'update', 'strategy', %(strategy)s, %(strategy_changes)s,
        %(request)s);
INSERT INTO events (tenant_id, type, entity_type, entity_id, payload, request_id)
VALUES (%(tenant)s, 'bet.placed', 'bet', %(id)s, %(event)s, %(request)s);
DELETE FROM idempotency_keys WHERE tenant_id = %(tenant)s AND key = %(key)s AND expires_at <= now();
INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, response_body,
                              created_at, expires_at)
VALUES (%(tenant)s, %(key)s, %(fingerprint)s, 201, %(body)s, now(), now() + interval '24 hours');
COMMIT
"""


def place_bet(body: bytes, idempotency_key: str) -> tuple[int, bytes]:
    data = json.loads(body)
    stake = Decimal(str(data["stake"])).quantize(Q2)
    price = Decimal(str(data["price"])).quantize(Q3)
    potential = (stake * price).quantize(Q2, rounding=ROUND_HALF_UP)
    bet_id = str(uuid.uuid4())
    params = {
        "id": bet_id,
        "tenant": TENANT_ID,
        "strategy": str(uuid.UUID(data["strategy_id"])),
        "match": int(data["match_id"]),
        "bookmaker": int(data["bookmaker_id"]),
        "market": data["market"],
        "selection": data["selection"],
        "line": None if data.get("line") is None else Decimal(str(data["line"])).quantize(Q2),
        "stake": stake,
        "price": price,
        "potential": potential,
        "actor": ACTOR,
        "key": idempotency_key,
        "lock_id": f"{TENANT_ID}:{idempotency_key}",
    }
    with POOL.cursor() as cur:
        try:
            cur.execute(_DEBIT_AND_INSERT, params)
            row = cur.fetchone()
            if row is None:
                cur.execute("ROLLBACK")
                return 409, b'{"status": 409}'
            placed_at, bankroll = row
            answer = {
                "id": bet_id,
                "strategy_id": params["strategy"],
                "match_id": params["match"],
                "bookmaker_id": params["bookmaker"],
                "market": params["market"],
                "selection": params["selection"],
                "line": None if params["line"] is None else str(params["line"]),
                "stake": str(stake),
                "price": str(price),
                "potential_return": str(potential),
                "status": "open",
                "placed_at": ts(placed_at),
                "settled_at": None,
                "closing_price": None,
                "clv": None,
                "pnl": None,
                "created_by": ACTOR,
            }
            payload = dumps(answer)
            created = {
                k: [None, answer[k]]
                for k in (
                    "id",
                    "strategy_id",
                    "match_id",
                    "bookmaker_id",
                    "market",
                    "selection",
                    "stake",
                    "price",
                    "potential_return",
                    "status",
                    "placed_at",
                )
            }
            created["tenant_id"] = [None, TENANT_ID]
            cur.execute(
                _AUDIT_AND_RECORD,
                {
                    **params,
                    "bet_changes": json.dumps(created),
                    # The bet's event (the outbox), as the project derives it from the audit
                    # entry: the id and every created field.
                    "event": json.dumps({"id": bet_id, **{k: v[1] for k, v in created.items()}}),
                    "strategy_changes": json.dumps(
                        {"bankroll": [str(bankroll + stake), str(bankroll)]}
                    ),
                    "request": uuid.uuid4().hex,
                    "fingerprint": hashlib.sha256(body).hexdigest(),
                    "body": payload.decode(),
                },
            )
        except Exception:
            if not cur.connection.closed:
                cur.execute("ROLLBACK")
            raise
    return 201, payload


# -- ASGI ------------------------------------------------------------------------------------------


def route(method: str, path: str, query: dict[str, str]) -> Callable[[], bytes] | None:
    parts = path.strip("/").split("/")
    if method != "GET" or parts[0] != "v1":
        return None
    rest = parts[1:]
    if rest == ["teams"]:
        return lambda: list_teams(query)
    if len(rest) == 2 and rest[0] == "teams":
        return lambda: get_team(int(rest[1]))
    if len(rest) == 3 and rest[0] == "teams" and rest[2] == "profile":
        return lambda: team_profile(int(rest[1]))
    if rest == ["bookmakers"]:
        return lambda: list_bookmakers(query)
    if rest == ["matches"]:
        return lambda: list_matches(query)
    if len(rest) == 3 and rest[0] == "matches" and rest[2] in ("odds", "closing-odds"):
        return lambda: latest_odds(int(rest[1]), rest[2] == "closing-odds")
    if len(rest) == 4 and rest[0] == "matches" and rest[2:] == ["odds", "history"]:
        return lambda: odds_history(int(rest[1]), query)
    if rest == ["strategies"]:
        return lambda: list_strategies(query)
    if len(rest) == 3 and rest[0] == "strategies" and rest[2] == "performance":
        return lambda: performance(rest[1])
    if rest == ["bets"]:
        return lambda: list_bets(query)
    if rest == ["audit"]:
        return lambda: list_audit(query)
    if rest == ["leaderboard"]:
        return lambda: leaderboard(query)
    return None


def _answer(work: Callable[[], bytes]) -> tuple[int, bytes]:
    try:
        return 200, work()
    except Problem as problem:
        return problem.status, b'{"status": %d}' % problem.status


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # As the project does: no more threads than pooled connections.
                anyio.to_thread.current_default_thread_limiter().total_tokens = POOL_SIZE
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                POOL.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = dict(scope["headers"])
    body = await _read_body(receive)
    path, method = scope["path"], scope["method"]
    if path == "/health/live":
        status, payload = 200, b'{"status": "ok"}'
    elif headers.get(b"authorization") != b"Bearer " + KEY:
        status, payload = 401, b'{"status": 401}'
    elif method == "POST" and path == "/v1/bets":
        key = headers[b"idempotency-key"].decode()
        status, payload = await anyio.to_thread.run_sync(place_bet, body, key)
    else:
        query = dict(parse_qsl(scope["query_string"].decode()))
        work = route(method, path, query)
        if work is None:
            status, payload = 404, b'{"status": 404}'
        else:
            status, payload = await anyio.to_thread.run_sync(_answer, work)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
