"""Backtests on a real season, against figures computed here straight from the CSV file
(csv + Decimal, independent of the importer and of the backtest's own code)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from backend.scripts.import_football_data import import_files
from tests.conftest import ADMIN_KEY
from tests.helpers import ah_expected, assert_problem, count_rows, make_tenant

DATA = Path(__file__).resolve().parents[2] / "data" / "football-data"
SEASON = DATA / "E0_2023-24.csv"
TEN = Decimal("10.00")
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _q(value: Decimal, places: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _rows() -> list[dict[str, str]]:
    with SEASON.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def stack(fresh_stack: Any) -> Any:
    import_files(fresh_stack.db, [SEASON])
    return fresh_stack


@pytest.fixture(scope="module")
def client(stack: Any) -> TestClient:
    client: TestClient = stack.client
    return client


@pytest.fixture(scope="module")
def raw_engine(stack: Any) -> Any:
    engine = create_engine(stack.url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def fund(client: TestClient) -> dict[str, str]:
    return make_tenant(client, ADMIN)[1]


@pytest.fixture(scope="module")
def books(client: TestClient) -> dict[str, int]:
    page = client.get("/v1/bookmakers", params={"limit": 500}, headers=ADMIN).json()
    return {b["name"]: b["id"] for b in page["items"]}


def _run(client: TestClient, fund: dict[str, str], **rule: Any) -> dict[str, Any]:
    response = client.post("/v1/backtests", json=rule, headers=fund)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _flat_figures(price_col: str, won: Any, close_col: str) -> dict[str, Any]:
    """A flat 10.00 on every row with a price, as settlement would pay it."""
    staked = returned = Decimal("0.00")
    clvs: list[Decimal] = []
    bets = 0
    for r in _rows():
        if not r[price_col]:
            continue
        price = Decimal(r[price_col])
        bets += 1
        staked += TEN
        if won(int(r["FTHG"]), int(r["FTAG"])):
            returned += (TEN * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if r[close_col]:
            clv = (price / Decimal(r[close_col]) - 1).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP
            )
            clvs.append(clv)
    pnl = returned - staked
    return {
        "bets": bets,
        "staked": _q(staked, 2),
        "returned": _q(returned, 2),
        "pnl": _q(pnl, 2),
        "roi": _q(pnl / staked, 4),
        "avg_clv": _q(sum(clvs, Decimal(0)) / len(clvs), 4),
        "beat_closing_rate": _q(Decimal(sum(c > 0 for c in clvs)) / len(clvs), 4),
    }


def test_back_home_at_pinnacles_opening_price_equals_the_csv(
    client: TestClient, fund: dict[str, str], books: dict[str, int], raw_engine: Engine
) -> None:
    expected = _flat_figures("PSH", lambda h, a: h > a, "PSCH")
    before = [count_rows(raw_engine, f"SELECT count(*) FROM {t}") for t in ("bets", "audit_log")]
    body = _run(
        client,
        fund,
        league="Premier League",
        season="2023-24",
        market="1x2",
        selection="home",
        bookmaker_id=books["Pinnacle"],
        price_source="opening",
        staking="flat",
        stake="10.00",
        bankroll="1000.00",
    )
    got = {k: body[k] for k in expected}
    assert got == expected
    assert (body["matches"], body["settled"], body["open"], body["void"]) == (380, 380, 0, 0)
    assert body["skipped"] == {
        "no_price": 380 - expected["bets"],
        "outside_band": 0,
        "no_probability": 0,
        "no_edge": 0,
        "bankroll": 0,
    }
    final = Decimal("1000.00") + Decimal(expected["pnl"])
    assert body["final_bankroll"] == _q(final, 2)
    assert body["equity"][-1]["bankroll"] == body["final_bankroll"]
    assert sum(p["bets"] for p in body["equity"]) == expected["bets"]
    # The drawdown, from the equity series as the API gives it.
    peak, worst = Decimal("1000.00"), Decimal("0.00")
    for point in body["equity"]:
        peak = max(peak, Decimal(point["bankroll"]))
        worst = max(worst, peak - Decimal(point["bankroll"]))
    assert body["max_drawdown"] == _q(worst, 2) and Decimal(body["max_drawdown"]) > 0
    # Nothing written: no bet, no audit entry.
    after = [count_rows(raw_engine, f"SELECT count(*) FROM {t}") for t in ("bets", "audit_log")]
    assert after == before


def test_back_over_at_bet365s_closing_price_equals_the_csv(
    client: TestClient, fund: dict[str, str], books: dict[str, int]
) -> None:
    expected = _flat_figures("B365C>2.5", lambda h, a: h + a >= 3, "PC>2.5")
    body = _run(
        client,
        fund,
        season="2023-24",
        market="ou2.5",
        selection="over",
        bookmaker_id=books["Bet365"],
        price_source="closing",
        staking="flat",
        stake="10.00",
        closing_bookmaker_id=books["Pinnacle"],
    )
    assert {k: body[k] for k in expected} == expected


def _ah_closing(r: dict[str, str], line: str) -> Decimal | None:
    """Pinnacle's closing home price of `line`: its price at that line in its last quote of
    the handicap before kickoff (the closing one when the row has it, else the opening one);
    None when its last quote was at another line."""
    if r["AHCh"] and (r["PCAHH"] or r["PCAHA"]):
        return Decimal(r["PCAHH"]) if r["AHCh"] == line and r["PCAHH"] else None
    return Decimal(r["PAHH"]) if r["PAHH"] else None


def test_back_home_on_the_asian_handicap_at_pinnacles_opening_line_equals_the_csv(
    client: TestClient, fund: dict[str, str], books: dict[str, int]
) -> None:
    """Each match at the line Pinnacle opened with (AHh, PAHH): quarter lines half won or half
    lost, whole lines pushed (void: refunded, neither staked nor in the CLV), CLV only where
    the same line closed."""
    decided, void, returned = 0, 0, Decimal("0.00")
    clvs: list[Decimal] = []
    for r in _rows():
        if not (r["AHh"] and r["PAHH"]):
            continue
        price = Decimal(r["PAHH"])
        status, paid = ah_expected(
            "home", Decimal(r["AHh"]), int(r["FTHG"]), int(r["FTAG"]), price, TEN
        )
        if status == "void":
            void += 1
            continue
        decided += 1
        returned += paid
        closing = _ah_closing(r, r["AHh"])
        if closing is not None:
            clvs.append((price / closing - 1).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
    staked = TEN * decided
    rule = {
        "season": "2023-24",
        "market": "ah",
        "selection": "home",
        "bookmaker_id": books["Pinnacle"],
        "price_source": "opening",
        "staking": "flat",
        "stake": "10.00",
    }
    body = _run(client, fund, **rule)
    assert (body["bets"], body["settled"], body["void"]) == (decided + void, decided, void)
    assert void > 0 and 0 < len(clvs) < decided  # pushes, and lines that moved by kickoff
    pnl = returned - staked
    assert (body["staked"], body["returned"], body["pnl"]) == (
        _q(staked, 2),
        _q(returned, 2),
        _q(pnl, 2),
    )
    assert body["roi"] == _q(pnl / staked, 4)
    assert body["avg_clv"] == _q(sum(clvs, Decimal(0)) / len(clvs), 4)
    assert body["beat_closing_rate"] == _q(Decimal(sum(c > 0 for c in clvs)) / len(clvs), 4)
    assert body["final_bankroll"] == _q(Decimal("1000.00") + pnl, 2)
    # The per-bet rows carry each bet's line and its outcome.
    response = client.post("/v1/backtests", json=rule, headers={**fund, "Accept": "text/csv"})
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert len(lines) == decided + void
    assert {x["result"] for x in lines} == {"won", "lost", "void", "half_won", "half_lost"}
    assert all(Decimal(x["line"]) % Decimal("0.25") == 0 for x in lines)
    # A fixed line keeps only the matches quoted at it, at the first price of that line: the
    # opening one, or the closing one where the line only came at the close.
    fixed = _run(client, fund, **rule, line="-0.25")
    opened = sum(1 for r in _rows() if r["AHh"] == "-0.25" and r["PAHH"])
    came_late = sum(
        1 for r in _rows() if r["AHh"] != "-0.25" and r["AHCh"] == "-0.25" and r["PCAHH"]
    )
    assert came_late > 0 and fixed["bets"] == opened + came_late


def test_a_price_band_and_the_csv_rows(
    client: TestClient, fund: dict[str, str], books: dict[str, int]
) -> None:
    rule = {
        "season": "2023-24",
        "market": "1x2",
        "selection": "away",
        "bookmaker_id": books["Pinnacle"],
        "price_source": "opening",
        "min_price": "2.000",
        "max_price": "3.500",
        "staking": "flat",
        "stake": "25.00",
    }
    inside = [
        r for r in _rows() if r["PSA"] and Decimal("2") <= Decimal(r["PSA"]) <= Decimal("3.5")
    ]
    summary = _run(client, fund, **rule)
    assert summary["bets"] == len(inside)
    assert summary["skipped"]["outside_band"] == sum(1 for r in _rows() if r["PSA"]) - len(inside)
    response = client.post("/v1/backtests", json=rule, headers={**fund, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert len(lines) == len(inside)
    assert _q(sum((Decimal(x["pnl"]) for x in lines), Decimal(0)), 2) == summary["pnl"]
    first = lines[0]
    assert first["result"] in ("won", "lost") and first["stake"] == "25.00"
    assert Decimal("2") <= Decimal(first["price"]) <= Decimal("3.5")
    assert {row["home_team"] for row in lines} <= {r["HomeTeam"] for r in inside}


def test_kelly_staking_on_the_margin_free_closing_probability_equals_the_csv(
    client: TestClient, fund: dict[str, str], books: dict[str, int]
) -> None:
    """A quarter Kelly at Bet365's opening home price, p from Pinnacle's closing 1x2 without
    its margin, stakes from the bankroll before each kickoff, capped at 50.00."""
    fraction, cap = Decimal("0.25"), Decimal("50.00")
    by_kickoff: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in _rows():
        by_kickoff[(r["Date"][6:] + r["Date"][3:5] + r["Date"][:2], r["Time"])].append(r)
    bankroll, staked, bets = Decimal("1000.00"), Decimal("0.00"), 0
    for key in sorted(by_kickoff):
        before, available, settled = bankroll, bankroll, Decimal(0)
        for r in by_kickoff[key]:
            if not (r["B365H"] and r["PSCH"] and r["PSCD"] and r["PSCA"]):
                continue
            inverse = {s: 1 / Decimal(r[f"PSC{s}"]) for s in "HDA"}
            p = inverse["H"] / sum(inverse.values())
            d = Decimal(r["B365H"])
            stake = (fraction * (p * d - 1) / (d - 1) * before).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
            stake = min(stake, cap)
            if stake < Decimal("0.01") or stake > available:
                continue
            available -= stake
            bets, staked = bets + 1, staked + stake
            won = int(r["FTHG"]) > int(r["FTAG"])
            ret = (stake * d).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if won else 0
            settled += ret - stake
        bankroll = before + settled
    body = _run(
        client,
        fund,
        season="2023-24",
        market="1x2",
        selection="home",
        bookmaker_id=books["Bet365"],
        price_source="opening",
        staking="kelly",
        kelly_fraction="0.25",
        max_stake="50.00",
    )
    assert (body["bets"], body["staked"]) == (bets, _q(staked, 2))
    assert body["final_bankroll"] == _q(bankroll, 2)
    assert body["skipped"]["no_edge"] > 0  # most home prices have no edge over Pinnacle's


def test_bad_rules_are_422_and_only_tenants_run_backtests(
    client: TestClient, fund: dict[str, str], admin_headers: dict[str, str], books: dict[str, int]
) -> None:
    base = {
        "market": "1x2",
        "selection": "home",
        "bookmaker_id": books["Pinnacle"],
        "price_source": "opening",
        "staking": "flat",
        "stake": "10.00",
    }
    bad = [
        {**base, "selection": "over"},
        {**base, "bookmaker_id": 999_999},
        {**base, "closing_bookmaker_id": 999_999},
        {**base, "staking": "kelly"},  # kelly takes kelly_fraction, not stake
        {**base, "kelly_fraction": "0.5"},
        {**base, "min_price": "3.000", "max_price": "2.000"},
        {**base, "stake": "0"},
        {**base, "price_source": "midday"},
        {**base, "match_ids": []},
        {**base, "kickoff_from": "2024-01-01T00:00:00"},  # naive
    ]
    for rule in bad:
        assert_problem(client.post("/v1/backtests", json=rule, headers=fund), 422)
    missing = assert_problem(
        client.post("/v1/backtests", json={**base, "bookmaker_id": 999_999}, headers=fund), 422
    )
    assert missing["errors"][0]["loc"] == ["body", "bookmaker_id"]
    assert_problem(client.post("/v1/backtests", json=base, headers=admin_headers), 403)
    none = _run(client, fund, **{**base, "season": "1899-00"})
    assert (none["matches"], none["bets"], none["roi"], none["avg_clv"]) == (0, 0, None, None)
    assert none["equity"] == [] and none["max_drawdown"] == "0.00"


def test_the_command_line_prints_the_same_figures_and_the_csv(
    stack: Any, client: TestClient, fund: dict[str, str], books: dict[str, int]
) -> None:
    env = {"DATABASE_URL": stack.url.render_as_string(hide_password=False), "PATH": "/usr/bin"}
    args = ["--season", "2023-24", "--market", "1x2", "--selection", "draw"]
    args += ["--price-source", "opening", "--staking", "flat", "--stake", "10"]
    command = [sys.executable, "-m", "backend.scripts.backtest", *args]
    result = subprocess.run(
        [*command, "--bookmaker", "Pinnacle", "--csv", "-"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    api = _run(
        client,
        fund,
        season="2023-24",
        market="1x2",
        selection="draw",
        bookmaker_id=books["Pinnacle"],
        price_source="opening",
        staking="flat",
        stake="10",
    )
    table, _, rows = result.stdout.partition("match_id,")
    printed = dict(line.split(None, 1) for line in table.splitlines() if line.strip())
    assert (printed["pnl"], printed["roi"], printed["bets"]) == (
        api["pnl"],
        api["roi"],
        str(api["bets"]),
    )
    assert len(("match_id," + rows).splitlines()) == api["bets"] + 1
    unknown = subprocess.run(
        [*command, "--bookmaker", "Nobody"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert unknown.returncode == 1 and "no bookmaker named 'Nobody'" in unknown.stderr
