"""Asian handicap (`ah`) and totals lines (`ou`): prices at a line, bets at a line, and their
settlement on real Premier League rows (quarter lines half won / half lost, whole lines push),
against figures computed here from the CSV row by the rule's definition: each half-stake on its
own line (tests.helpers.ah_expected)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import (
    ah_expected,
    assert_problem,
    bet_body,
    count_rows,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)

SEASON = Path(__file__).resolve().parents[2] / "data" / "football-data" / "E0_2023-24.csv"
KICKOFF = "2031-05-01T15:00:00Z"
STAKE = Decimal("10.00")
CENT, BP = Decimal("0.01"), Decimal("0.0001")


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _real_rows() -> dict[str, dict[str, str]]:
    """The season's first row whose home side at Pinnacle's closing line ends in each status."""
    with SEASON.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    found: dict[str, dict[str, str]] = {}
    for r in rows:
        if not (r["AHCh"] and r["PCAHH"] and r["PCAHA"] and r["AHh"] and r["PAHH"]):
            continue
        status, _ = ah_expected(
            "home", Decimal(r["AHCh"]), int(r["FTHG"]), int(r["FTAG"]), Decimal(r["PCAHH"]), STAKE
        )
        # Preferably a row whose line moved from the opening one (a bet there gets no CLV).
        moved = r["AHh"] != r["AHCh"]
        if status not in found or (moved and found[status]["AHh"] == found[status]["AHCh"]):
            found[status] = r
    assert set(found) == {"won", "lost", "void", "half_won", "half_lost"}, sorted(found)
    return found


def _ah_rows(match_id: int, book: int, line: str, home: str, away: str, at: datetime) -> list:
    return [
        {
            "match_id": match_id,
            "bookmaker_id": book,
            "market": "ah",
            "selection": selection,
            "line": line,
            "price": price,
            "captured_at": _stamp(at),
        }
        for selection, price in (("home", home), ("away", away))
    ]


def test_asian_handicap_settles_on_real_rows_half_won_half_lost_and_push(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    rows = _real_rows()
    sharp = make_bookmaker(client, admin_headers, is_sharp=True)
    _, fund = make_tenant(client, admin_headers)
    strategy = make_strategy(client, fund, bankroll="1000.00", max_stake="100.00")
    now = datetime.now(UTC).replace(microsecond=0)
    expected_bets: dict[str, tuple[str, str, str | None, str | None]] = {}
    matches = []
    for r in rows.values():
        match = make_match(client, admin_headers, kickoff_at=KICKOFF)
        matches.append((match["id"], int(r["FTHG"]), int(r["FTAG"])))
        snapshots = _ah_rows(
            match["id"], sharp["id"], r["AHh"], r["PAHH"], r["PAHA"], now - timedelta(hours=3)
        ) + _ah_rows(
            match["id"], sharp["id"], r["AHCh"], r["PCAHH"], r["PCAHA"], now - timedelta(hours=2)
        )
        response = client.post(
            "/v1/odds/batch", json={"snapshots": snapshots}, headers=admin_headers
        )
        assert response.status_code == 200, response.text
        closing = {"home": Decimal(r["PCAHH"]), "away": Decimal(r["PCAHA"])}
        bets = [(s, r["AHCh"], closing[s]) for s in ("home", "away")]
        if r["AHh"] != r["AHCh"]:  # the opening line, which did not close: no CLV
            bets.append(("home", r["AHh"], Decimal(r["PAHH"])))
        for selection, line, price in bets:
            body = bet_body(
                strategy["id"],
                match["id"],
                sharp["id"],
                market="ah",
                selection=selection,
                line=line,
                stake=str(STAKE),
                price=str(price),
            )
            placed = client.post("/v1/bets", json=body, headers=idem(fund))
            assert placed.status_code == 201, placed.text
            assert placed.json()["line"] == str(Decimal(line).quantize(CENT))
            status, returned = ah_expected(
                selection, Decimal(line), int(r["FTHG"]), int(r["FTAG"]), price, STAKE
            )
            closes = line == r["AHCh"]
            clv = (price / closing[selection] - 1).quantize(BP, ROUND_HALF_UP) if closes else None
            expected_bets[placed.json()["id"]] = (
                status,
                str(returned - STAKE),
                f"{closing[selection]:.3f}" if closes else None,
                None if clv is None else str(clv),
            )
    for match_id, _, _ in matches:
        kickoff = now - timedelta(hours=1)
        with raw_engine.begin() as conn:
            conn.execute(
                text("UPDATE matches SET kickoff_at = :k WHERE id = :m"),
                {"k": kickoff, "m": match_id},
            )
    for match_id, home, away in matches:
        response = client.post(
            f"/v1/matches/{match_id}/result",
            json={"home_score": home, "away_score": away},
            headers=admin_headers,
        )
        assert response.status_code == 200, response.text

    page = client.get(
        "/v1/bets", params={"strategy_id": strategy["id"], "limit": 100}, headers=fund
    ).json()
    got = {b["id"]: (b["status"], b["pnl"], b["closing_price"], b["clv"]) for b in page["items"]}
    assert got == expected_bets
    statuses = {v[0] for v in expected_bets.values()}
    assert statuses == {"won", "lost", "void", "half_won", "half_lost"}
    assert any(v[3] is None for v in expected_bets.values())  # a line that did not close
    # Money: the bankroll is the start less every stake plus every return, to the cent.
    pnl = sum(Decimal(v[1]) for v in expected_bets.values())
    now_strategy = client.get(f"/v1/strategies/{strategy['id']}", headers=fund).json()
    assert Decimal(now_strategy["bankroll"]) == Decimal("1000.00") + pnl
    # /performance counts a push as void; the rest are settled with their real returns.
    perf = client.get(f"/v1/strategies/{strategy['id']}/performance", headers=fund).json()
    decided = [v for v in expected_bets.values() if v[0] != "void"]
    assert perf["settled"] == len(decided)
    assert perf["void"] == len(expected_bets) - len(decided)
    assert Decimal(perf["staked"]) == STAKE * len(decided)
    assert Decimal(perf["pnl"]) == pnl
    clvs = [Decimal(v[3]) for v in decided if v[3] is not None]
    assert Decimal(perf["avg_clv"]) == (sum(clvs) / len(clvs)).quantize(BP, ROUND_HALF_UP)
    # One audit entry per settled bet.
    settled = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE action = 'settle' AND entity_type = 'bet' "
        "AND entity_id = ANY(CAST(:ids AS text[]))",
        ids=list(expected_bets),
    )
    assert settled == len(expected_bets)


def test_line_prices_are_stored_read_and_filtered_by_line(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    book = make_bookmaker(client, admin_headers)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    rows = _ah_rows(match["id"], book["id"], "-0.25", "1.950", "1.950", at)
    rows += _ah_rows(match["id"], book["id"], "-0.5", "2.200", "1.720", at)
    rows.append(
        {
            "match_id": match["id"],
            "bookmaker_id": book["id"],
            "market": "ou",
            "selection": "over",
            "line": 2.75,
            "price": "2.100",
            "captured_at": _stamp(at),
        }
    )
    response = client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers)
    assert response.json() == {"received": 5, "inserted": 5, "duplicates": 0}
    # The CSV form with the optional line column; a line-less row leaves it empty. The same
    # (book, market, selection, line, moment) again is a duplicate, another line is not.
    csv_body = (
        "match_id,bookmaker_id,market,selection,price,captured_at,line\n"
        f"{match['id']},{book['id']},ah,home,1.950,{_stamp(at)},-0.25\n"
        f"{match['id']},{book['id']},ah,home,1.800,{_stamp(at)},0\n"
        f"{match['id']},{book['id']},1x2,home,2.500,{_stamp(at)},\n"
    )
    response = client.post(
        "/v1/odds/batch",
        content=csv_body,
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    assert response.json() == {"received": 3, "inserted": 2, "duplicates": 1}, response.text
    latest = client.get(f"/v1/matches/{match['id']}/odds", headers=admin_headers).json()["items"]
    keys = [(o["market"], o["selection"], o["line"], o["price"]) for o in latest]
    assert keys == [
        ("1x2", "home", None, "2.500"),
        ("ah", "away", "-0.50", "1.720"),
        ("ah", "away", "-0.25", "1.950"),
        ("ah", "home", "-0.50", "2.200"),
        ("ah", "home", "-0.25", "1.950"),
        ("ah", "home", "0.00", "1.800"),
        ("ou", "over", "2.75", "2.100"),
    ]
    history = client.get(
        f"/v1/matches/{match['id']}/odds/history",
        params={"market": "ah", "line": "-0.5"},
        headers=admin_headers,
    ).json()["items"]
    assert sorted(o["selection"] for o in history) == ["away", "home"]
    assert {o["line"] for o in history} == {"-0.50"}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"market": "ah", "selection": "home"}, "line"),  # ah needs a line
        ({"market": "1x2", "selection": "home", "line": "0"}, "line"),  # 1x2 takes none
        ({"market": "ou", "selection": "over", "line": "2.5"}, "line"),  # that is ou2.5
        ({"market": "ah", "selection": "home", "line": "0.1"}, "line"),  # quarter goals only
        ({"market": "ah", "selection": "home", "line": "-10.25"}, "line"),
        ({"market": "ah", "selection": "draw", "line": "0"}, "selection"),
        ({"market": "ah", "selection": "home", "line": "x"}, "line"),
    ],
)
def test_bad_lines_are_refused_and_store_nothing(
    client: TestClient,
    admin_headers: dict[str, str],
    raw_engine: Engine,
    fields: dict[str, Any],
    where: str,
) -> None:
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    book = make_bookmaker(client, admin_headers)
    row = {
        "match_id": match["id"],
        "bookmaker_id": book["id"],
        "price": "1.900",
        "captured_at": _stamp(datetime.now(UTC) - timedelta(minutes=1)),
        **fields,
    }
    response = client.post("/v1/odds/batch", json={"snapshots": [row]}, headers=admin_headers)
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "snapshots", 0, where]
    count = "SELECT count(*) FROM odds_snapshots WHERE match_id = :m"
    assert count_rows(raw_engine, count, m=match["id"]) == 0
    # The same rule for a bet.
    _, fund = make_tenant(client, admin_headers)
    strategy = make_strategy(client, fund)
    bet = bet_body(strategy["id"], match["id"], book["id"], **fields)
    assert_problem(client.post("/v1/bets", json=bet, headers=idem(fund)), 422)
    assert (
        count_rows(raw_engine, "SELECT count(*) FROM bets WHERE match_id = :m", m=match["id"]) == 0
    )


def test_the_price_guard_and_the_idempotency_key_know_the_line(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    book = make_bookmaker(client, admin_headers)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    rows = _ah_rows(match["id"], book["id"], "-0.25", "1.900", "1.950", at)
    rows += _ah_rows(match["id"], book["id"], "-0.75", "2.400", "1.600", at)
    assert client.post("/v1/odds/batch", json={"snapshots": rows}, headers=admin_headers).is_success
    _, fund = make_tenant(client, admin_headers)
    strategy = make_strategy(client, fund)

    def bet(line: str | float, price: str, key: str | None = None) -> Any:
        body = bet_body(
            strategy["id"],
            match["id"],
            book["id"],
            market="ah",
            selection="home",
            line=line,
            price=price,
        )
        return client.post("/v1/bets", json=body, headers=idem(fund, key))

    # 2.400 is far above the -0.25 line's 1.900 (2% tolerance: at most 1.938) ...
    refused = assert_problem(bet("-0.25", "2.400"), 409, "price-changed")
    assert (refused["current_price"], refused["max_price"]) == ("1.900", "1.938")
    assert "ah -0.25" in refused["detail"]
    # ... but it is the -0.75 line's own price.
    assert bet("-0.75", "2.400", key="line-key").status_code == 201
    # The line is part of the request the key stands for.
    reused = bet("-0.25", "1.900", key="line-key")
    assert_problem(reused, 422, "idempotency-key-reused")
    replay = bet("-0.75", "2.400", key="line-key")
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    # The same line as a JSON number, or with other places, is the same request.
    for same in (-0.75, "-0.750"):
        again = bet(same, "2.400", key="line-key")
        assert again.status_code == 201, (same, again.text)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == replay.json()
    listed = client.get("/v1/bets", params={"strategy_id": strategy["id"]}, headers=fund)
    assert [b["id"] for b in listed.json()["items"]] == [replay.json()["id"]]


def test_the_csv_batch_takes_its_columns_in_any_order_line_included(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers, kickoff_at=KICKOFF)
    book = make_bookmaker(client, admin_headers)
    at = _stamp(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3))
    for header, rows in (
        (
            "line,captured_at,price,selection,market,bookmaker_id,match_id",
            [
                f"-0.25,{at},1.910,home,ah,{book['id']},{match['id']}",
                f",{at},2.600,away,1x2,{book['id']},{match['id']}",
            ],
        ),
        (
            "market,line,match_id,selection,bookmaker_id,captured_at,price",
            [f"ou,3.25,{match['id']},over,{book['id']},{at},2.050"],
        ),
    ):
        response = client.post(
            "/v1/odds/batch",
            content="\n".join([header, *rows]) + "\n",
            headers={**admin_headers, "Content-Type": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["inserted"] == len(rows)
    latest = client.get(f"/v1/matches/{match['id']}/odds", headers=admin_headers).json()["items"]
    assert [(o["market"], o["selection"], o["line"], o["price"]) for o in latest] == [
        ("1x2", "away", None, "2.600"),
        ("ah", "home", "-0.25", "1.910"),
        ("ou", "over", "3.25", "2.050"),
    ]
