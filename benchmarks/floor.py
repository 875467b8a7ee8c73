"""The floor: the same work done by raw psycopg2 behind a bare ASGI app, no framework, no ORM.

Served by the same uvicorn (one worker) as the project, with a pooled psycopg2 connection set
of the same size, blocking work in the same kind of thread pool, and `json.dumps` answers.
Run: uvicorn benchmarks.floor:app (FLOOR_DSN, FLOOR_TENANT_ID, FLOOR_KEY in the environment).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from decimal import Decimal
from typing import Any

import anyio
from psycopg2.pool import ThreadedConnectionPool

DSN = os.environ["FLOOR_DSN"]
TENANT_ID = os.environ["FLOOR_TENANT_ID"]
KEY = os.environ["FLOOR_KEY"].encode()


class BlockingPool(ThreadedConnectionPool):
    """psycopg2's pool raises when empty; like SQLAlchemy's, this one waits for a connection."""

    def __init__(self, minconn: int, maxconn: int, dsn: str) -> None:
        super().__init__(minconn, maxconn, dsn)
        self._slots = threading.BoundedSemaphore(maxconn)

    def getconn(self, key: Any = None) -> Any:
        self._slots.acquire()
        return super().getconn(key)

    def putconn(self, conn: Any = None, key: Any = None, close: bool = False) -> None:
        super().putconn(conn, key, close)
        self._slots.release()


# min = max: psycopg2 closes connections above minconn when they come back (churn).
POOL_SIZE = int(os.environ.get("FLOOR_POOL", "15"))
POOL = BlockingPool(POOL_SIZE, POOL_SIZE, DSN)


def _place_bet(body: bytes, idempotency_key: str) -> tuple[int, bytes]:
    data = json.loads(body)
    stake, price = Decimal(str(data["stake"])), Decimal(str(data["price"]))
    bet_id = str(uuid.uuid4())
    conn = POOL.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE strategies SET bankroll = bankroll - %s, version = version + 1, "
                "updated_at = now() WHERE id = %s AND tenant_id = %s AND status = 'active' "
                "AND bankroll >= %s RETURNING bankroll",
                (stake, data["strategy_id"], TENANT_ID, stake),
            )
            row = cur.fetchone()
            if row is None:
                conn.rollback()
                return 409, b'{"status": 409}'
            potential = (stake * price).quantize(Decimal("0.01"))
            cur.execute(
                "INSERT INTO bets (id, tenant_id, strategy_id, match_id, bookmaker_id, market, "
                "selection, stake, price, potential_return, created_by, updated_by) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'floor', 'floor') "
                "RETURNING placed_at",
                (
                    bet_id,
                    TENANT_ID,
                    data["strategy_id"],
                    data["match_id"],
                    data["bookmaker_id"],
                    data["market"],
                    data["selection"],
                    stake,
                    price,
                    potential,
                ),
            )
            (placed_at,) = cur.fetchone()
            answer = {
                "id": bet_id,
                "strategy_id": data["strategy_id"],
                "match_id": data["match_id"],
                "bookmaker_id": data["bookmaker_id"],
                "market": data["market"],
                "selection": data["selection"],
                "stake": str(stake),
                "price": str(price),
                "potential_return": str(potential),
                "status": "open",
                "placed_at": placed_at.isoformat(),
                "settled_at": None,
                "closing_price": None,
                "clv": None,
                "pnl": None,
                "created_by": "floor",
            }
            payload = json.dumps(answer)
            cur.execute(
                "INSERT INTO audit_log (tenant_id, actor, action, entity_type, entity_id, "
                "changes) VALUES (%s, 'floor', 'create', 'bet', %s, %s), "
                "(%s, 'floor', 'update', 'strategy', %s, %s)",
                (
                    TENANT_ID,
                    bet_id,
                    payload,
                    TENANT_ID,
                    data["strategy_id"],
                    json.dumps({"bankroll": [str(row[0] + stake), str(row[0])]}),
                ),
            )
            cur.execute(
                "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, "
                "response_body, expires_at) VALUES (%s, %s, %s, 201, %s, "
                "now() + interval '24 hours')",
                (TENANT_ID, idempotency_key, bet_id, payload),
            )
        conn.commit()
        return 201, payload.encode()
    except Exception:
        conn.rollback()
        raise
    finally:
        POOL.putconn(conn)


def _get_team(team_id: int) -> tuple[int, bytes]:
    conn = POOL.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, name, country, league, created_at, updated_at, created_by, "
                "updated_by, version FROM teams WHERE id = %s",
                (team_id,),
            )
            row = cur.fetchone()
        conn.rollback()
    finally:
        POOL.putconn(conn)
    if row is None:
        return 404, b'{"status": 404}'
    keys = (
        "id",
        "name",
        "country",
        "league",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "version",
    )
    return 200, json.dumps(dict(zip(keys, row, strict=True)), default=str).encode()


def _list_matches(limit: int) -> tuple[int, bytes]:
    conn = POOL.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT m.id, m.league, m.season, h.id, h.name, a.id, a.name, m.kickoff_at, "
                "m.status, m.home_score, m.away_score, m.created_at, m.updated_at, m.version "
                "FROM matches m JOIN teams h ON h.id = m.home_team_id "
                "JOIN teams a ON a.id = m.away_team_id ORDER BY m.kickoff_at, m.id LIMIT %s",
                (limit + 1,),
            )
            rows = cur.fetchall()
        conn.rollback()
    finally:
        POOL.putconn(conn)
    items = [
        {
            "id": r[0],
            "league": r[1],
            "season": r[2],
            "home_team": {"id": r[3], "name": r[4]},
            "away_team": {"id": r[5], "name": r[6]},
            "kickoff_at": r[7].isoformat(),
            "status": r[8],
            "home_score": r[9],
            "away_score": r[10],
            "created_at": r[11].isoformat(),
            "updated_at": r[12].isoformat(),
            "version": r[13],
        }
        for r in rows[:limit]
    ]
    return 200, json.dumps({"items": items, "next_cursor": None}).encode()


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
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                POOL.closeall()
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = dict(scope["headers"])
    body = await _read_body(receive)
    if headers.get(b"authorization") != b"Bearer " + KEY:
        status, payload = 401, b'{"status": 401}'
    else:
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == "/v1/bets":
            key = headers[b"idempotency-key"].decode()
            status, payload = await anyio.to_thread.run_sync(_place_bet, body, key)
        elif method == "GET" and path.startswith("/v1/teams/"):
            status, payload = await anyio.to_thread.run_sync(_get_team, int(path.rsplit("/", 1)[1]))
        elif method == "GET" and path == "/v1/matches":
            query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if p)
            status, payload = await anyio.to_thread.run_sync(
                _list_matches, int(query.get("limit", 50))
            )
        else:
            status, payload = 404, b'{"status": 404}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
