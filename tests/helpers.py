"""Data builders with unique suffixes, and small assertion helpers shared by the tests."""

from __future__ import annotations

import logging
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from backend.core.prepared import PreparedSQL

PROBLEM = "application/problem+json"

# The pool report's fields, as API.md lists them for /health/ready and /v1/admin/pool.
POOL_FIELDS = {
    "size",
    "checked_in",
    "checked_out",
    "overflow",
    "max_overflow",
    "timeout_s",
    "recycle_s",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def count_rows(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def assert_problem(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and type slug)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["type"].startswith("https://oddsdesk.dev/problems/")
    if slug is not None:
        assert body["type"].endswith("/" + slug), body["type"]
    for forbidden in ("Traceback", "psycopg2", "SELECT ", "INSERT ", "sqlalchemy"):
        assert forbidden not in response.text
    return body


def make_team(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": unique("Team"), **fields}
    response = client.post("/v1/teams", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def make_bookmaker(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": unique("Book"), **fields}
    response = client.post("/v1/bookmakers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def make_match(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    if "home_team_id" not in fields:
        fields["home_team_id"] = make_team(client, headers)["id"]
    if "away_team_id" not in fields:
        fields["away_team_id"] = make_team(client, headers)["id"]
    body = {
        "league": "Premier League",
        "season": "2024-25",
        "kickoff_at": "2030-08-16T19:00:00Z",
        **fields,
    }
    response = client.post("/v1/matches", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


_EXECUTE = re.compile(r"EXECUTE (oddsdesk_[a-z0-9_]+)")


def with_texts(statement: str) -> str:
    """The statement, followed by the text of each prepared statement it EXECUTEs."""
    texts = [
        f" /* {name}: {PreparedSQL.by_name[name].text} */"
        for name in _EXECUTE.findall(statement)
        if name in PreparedSQL.by_name
    ]
    return statement + "".join(texts)


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every SQL statement the engine runs inside the block (as sent: a prepared
    statement as its EXECUTE; `with_texts` shows what that runs)."""
    statements: list[str] = []

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _record)


def make_tenant(client: TestClient, admin: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A new tenant and the headers of its default key."""
    response = client.post("/v1/admin/tenants", json={"name": unique("Fund")}, headers=admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body, {"Authorization": f"Bearer {body['api_key']['key']}"}


def make_strategy(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": unique("Strategy"), "bankroll": "1000.00", "max_stake": "100.00", **fields}
    response = client.post("/v1/strategies", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def bet_body(strategy_id: str, match_id: int, bookmaker_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "strategy_id": strategy_id,
        "match_id": match_id,
        "bookmaker_id": bookmaker_id,
        "market": "1x2",
        "selection": "home",
        "stake": "10.00",
        "price": "2.150",
        **fields,
    }


def idem(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key or uuid.uuid4().hex}


@contextmanager
def captured_logs(name: str, level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """Records of logger `name` inside the block. Our loggers do not propagate to the root
    (configure_logging), so this attaches to the named logger itself, on any pytest."""
    records: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger, handler = logging.getLogger(name), _Collect(level)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, previous) if previous else level)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


AH_STATUS = {"ww": "won", "ll": "lost", "pp": "void", "pw": "half_won", "lp": "half_lost"}


def ah_expected(
    selection: str, line: Decimal, home: int, away: int, price: Decimal, stake: Decimal
) -> tuple[str, Decimal]:
    """An Asian handicap bet's status and return by the definition, independent of the app:
    each half-stake is a bet on its own line (a quarter line is half at line - 0.25, half at
    line + 0.25; any other line is the same line twice), won (price), pushed (stake back) or
    lost; the sum rounded half-up to cents once."""
    quarter = line % Decimal("0.5") != 0
    halves = [line - Decimal("0.25"), line + Decimal("0.25")] if quarter else [line, line]
    results, paid = [], Decimal(0)
    for half in halves:
        margin = home - away + half if selection == "home" else away - home - half
        result = "w" if margin > 0 else "p" if margin == 0 else "l"
        results.append(result)
        paid += stake / 2 * (price if result == "w" else 1 if result == "p" else 0)
    status = AH_STATUS["".join(sorted(results, key="lpw".index))]
    return status, paid.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's Redis (CI has one)


def redis_up() -> bool:
    """Whether Redis answers on REDIS_URL (tests that need it skip without it)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False
    return True
