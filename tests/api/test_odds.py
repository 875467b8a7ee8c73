"""Odds: all-or-nothing batches in JSON and CSV, duplicates counted, reads as of a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from backend.core.database import Database
from tests.helpers import assert_problem, count_rows, count_statements, make_bookmaker, make_match

HEADER = "match_id,bookmaker_id,market,selection,price,captured_at"


@pytest.fixture
def target(client: TestClient, admin_headers: dict[str, str]) -> dict[str, int]:
    match = make_match(client, admin_headers, kickoff_at="2024-05-19T15:00:00Z")
    return {"match_id": match["id"], "bookmaker_id": make_bookmaker(client, admin_headers)["id"]}


def _row(
    target: dict[str, int], selection: str, price: Any, at: str, market: str = "1x2"
) -> dict[str, Any]:
    return {**target, "market": market, "selection": selection, "price": price, "captured_at": at}


def _count(engine: Engine, match_id: int) -> int:
    return count_rows(engine, "SELECT count(*) FROM odds_snapshots WHERE match_id=:m", m=match_id)


def test_json_batch_stores_counts_duplicates_and_is_idempotent(
    client: TestClient, admin_headers: dict[str, str], target: dict[str, int], raw_engine: Engine
) -> None:
    rows = [
        _row(target, s, p, "2024-05-18T12:00:00Z")
        for s, p in (("home", "2.15"), ("draw", 3.4), ("away", 4))
    ]
    rows.append(dict(rows[0]))  # the same snapshot twice in one batch
    first = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    assert first.status_code == 200
    assert first.json() == {"received": 4, "inserted": 3, "duplicates": 1}
    again = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    assert again.json() == {"received": 4, "inserted": 0, "duplicates": 4}
    assert _count(raw_engine, target["match_id"]) == 3


@pytest.mark.parametrize(
    ("index", "field", "value"),
    [
        (1, "price", "1.000"),
        (1, "price", "2.1234"),
        (2, "market", "btts"),
        (0, "selection", "over"),
        (2, "captured_at", "2024-05-18T12:00:00"),
        (1, "captured_at", "2099-01-01T00:00:00Z"),
        (0, "match_id", 99999999),
        (2, "bookmaker_id", 99999999),
        (1, "match_id", "1"),
        (0, "extra", 1),
    ],
)
def test_one_bad_row_rejects_the_batch_and_is_named(
    client: TestClient,
    admin_headers: dict[str, str],
    target: dict[str, int],
    raw_engine: Engine,
    index: int,
    field: str,
    value: Any,
) -> None:
    rows = [_row(target, s, "2.0", "2024-05-18T12:00:00Z") for s in ("home", "draw", "away")]
    rows[index][field] = value
    response = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "snapshots", index, field]
    assert _count(raw_engine, target["match_id"]) == 0


def test_csv_batch_names_the_bad_line(
    client: TestClient, admin_headers: dict[str, str], target: dict[str, int], raw_engine: Engine
) -> None:
    m, b = target["match_id"], target["bookmaker_id"]
    good = (
        f"{HEADER}\n{m},{b},ou2.5,over,1.9,2024-05-18T12:00:00Z\n"
        f"{m},{b},ou2.5,under,1.95,2024-05-18T12:00:00+01:00\n"
    )
    headers = {**admin_headers, "Content-Type": "text/csv"}
    bad = good.replace("ou2.5,under,1.95", "ou2.5,under,0.5")
    body = assert_problem(client.post("/v1/odds/batch", content=bad, headers=headers), 422)
    assert body["errors"][0]["loc"] == ["body", "line", 3]
    short = good + f"{m},{b},1x2\n"
    assert assert_problem(client.post("/v1/odds/batch", content=short, headers=headers), 422)[
        "errors"
    ][0]["loc"] == ["body", "line", 4]
    assert_problem(client.post("/v1/odds/batch", content="a,b\n1,2\n", headers=headers), 422)
    assert _count(raw_engine, m) == 0
    ok = client.post("/v1/odds/batch", content=good.replace("\n", "\r\n"), headers=headers)
    assert ok.json() == {"received": 2, "inserted": 2, "duplicates": 0}


def test_batch_limits_media_type_and_auth(
    client: TestClient,
    admin_headers: dict[str, str],
    tenant_headers: dict[str, str],
    target: dict[str, int],
) -> None:
    assert_problem(
        client.post("/v1/odds/batch", json={"snapshots": []}, headers=admin_headers), 422
    )
    too_many = {"snapshots": [_row(target, "home", "2", "2024-05-18T12:00:00Z")] * 100_001}
    assert_problem(client.post("/v1/odds/batch", json=too_many, headers=admin_headers), 422)
    assert_problem(
        client.post(
            "/v1/odds/batch",
            content=b"<xml/>",
            headers={**admin_headers, "Content-Type": "application/xml"},
        ),
        415,
    )
    assert_problem(
        client.post(
            "/v1/odds/batch",
            content=b'{"snapshots": [NaN]}',
            headers={**admin_headers, "Content-Type": "application/json"},
        ),
        400,
    )
    assert_problem(
        client.post("/v1/odds/batch", json={"snapshots": []}, headers=tenant_headers), 403
    )


def test_concurrent_overlapping_batches_neither_duplicate_nor_lose(
    client: TestClient, admin_headers: dict[str, str], target: dict[str, int], raw_engine: Engine
) -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    stamps = [(start + timedelta(minutes=i)).isoformat() for i in range(300)]
    batches = [
        [_row(target, "home", "2.0", s) for s in stamps[lo : lo + 200]] for lo in (0, 50, 100)
    ]

    def send(rows: list[dict[str, Any]]) -> dict[str, int]:
        result: dict[str, int] = client.post(
            "/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers
        ).json()
        return result

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(send, batches))
    assert sum(r["inserted"] for r in results) == 300
    assert sum(r["duplicates"] for r in results) == 600 - 300
    assert _count(raw_engine, target["match_id"]) == 300


def test_latest_history_and_closing(
    client: TestClient, admin_headers: dict[str, str], target: dict[str, int]
) -> None:
    m = target["match_id"]
    rows = [
        _row(target, "home", p, at)
        for p, at in (
            ("2.50", "2024-05-17T12:00:00Z"),
            ("2.40", "2024-05-19T14:59:59Z"),
            ("2.10", "2024-05-19T15:00:00Z"),
            ("1.50", "2024-05-19T15:45:00Z"),
        )
    ]
    client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    closing = client.get(f"/v1/matches/{m}/closing-odds", headers=admin_headers).json()["items"]
    assert [(s["price"], s["captured_at"]) for s in closing] == [("2.100", "2024-05-19T15:00:00Z")]
    as_of = client.get(
        f"/v1/matches/{m}/odds", params={"at": "2024-05-18T00:00:00Z"}, headers=admin_headers
    ).json()["items"]
    assert [s["price"] for s in as_of] == ["2.500"]
    now = client.get(f"/v1/matches/{m}/odds", headers=admin_headers).json()["items"]
    assert [s["price"] for s in now] == ["1.500"]
    assert_problem(
        client.get(
            f"/v1/matches/{m}/odds", params={"at": "2024-05-18T00:00:00"}, headers=admin_headers
        ),
        422,
    )
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3, "market": "1x2", "include_total": "true"}
        if cursor:
            params["cursor"] = cursor
        page = client.get(
            f"/v1/matches/{m}/odds/history", params=params, headers=admin_headers
        ).json()
        assert page["total"] == 4
        seen += [s["price"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["2.500", "2.400", "2.100", "1.500"]
    assert_problem(client.get("/v1/matches/99999999/odds/history", headers=admin_headers), 404)
    assert_problem(client.get("/v1/matches/99999999/closing-odds", headers=admin_headers), 404)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE odds_snapshots SET price = 9",
        "DELETE FROM odds_snapshots",
        "TRUNCATE odds_snapshots",
    ],
)
def test_snapshots_are_append_only(raw_engine: Engine, statement: str) -> None:
    with raw_engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text(statement))


def test_each_price_read_is_one_statement(
    client: TestClient, admin_headers: dict[str, str], target: dict[str, int], db: Database
) -> None:
    rows = [_row(target, s, "2.0", "2024-05-18T12:00:00Z") for s in ("home", "draw", "away")]
    client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    m = target["match_id"]
    for path in (
        f"/v1/matches/{m}/odds",
        f"/v1/matches/{m}/closing-odds",
        f"/v1/matches/{m}/odds/history",
    ):
        with count_statements(db.engine) as statements:
            assert client.get(path, headers=admin_headers).status_code == 200
        # One round trip in all: the unit of work's RLS context rides along with the read.
        assert len(statements) == 1, (path, statements)
        assert "set_config('app.bypass_rls'" in statements[0]


@pytest.mark.parametrize("match_id", [2**31, 69800860157874, 2**70])
def test_odds_reads_of_an_id_no_match_can_have_are_404(
    client: TestClient, admin_headers: dict[str, str], match_id: int
) -> None:
    """Ids past PostgreSQL's `integer` name no match: 404, as for any unknown match, however
    the statement binds them (prepared statements type their parameters as the column's)."""
    for suffix in ("odds", "closing-odds", "odds/history"):
        response = client.get(f"/v1/matches/{match_id}/{suffix}", headers=admin_headers)
        assert_problem(response, 404)


def test_an_odds_history_filter_past_the_id_range_matches_nothing(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers)
    response = client.get(
        f"/v1/matches/{match['id']}/odds/history",
        params={"bookmaker_id": 2**40},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
