"""A whole real season imported, then checked against figures computed from the CSV itself."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from backend.scripts.import_football_data import import_files
from tests.helpers import assert_problem, count_rows

DATA = Path(__file__).resolve().parents[2] / "data" / "football-data"
SEASON = DATA / "E0_2023-24.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def stack(fresh_stack: Any) -> Any:
    return fresh_stack


@pytest.fixture(scope="module")
def imported(stack: Any) -> Any:
    return import_files(stack.db, [SEASON])


@pytest.fixture(scope="module")
def client(stack: Any) -> TestClient:
    client: TestClient = stack.client
    return client


@pytest.fixture(scope="module")
def raw_engine(stack: Any) -> Any:
    engine = create_engine(stack.url)
    yield engine
    engine.dispose()


def _team_id(client: TestClient, headers: dict[str, str], name: str) -> int:
    items = client.get("/v1/teams", params={"q": name, "limit": 500}, headers=headers).json()
    ids = [t["id"] for t in items["items"] if t["name"] == name]
    assert len(ids) == 1, items
    return int(ids[0])


def test_season_import_matches_the_file(
    imported: Any, client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    assert imported.failed == 0
    assert imported.matches == 380
    matches = count_rows(
        raw_engine,
        "SELECT count(*) FROM matches WHERE season='2023-24' "
        "AND league='Premier League' AND status='finished'",
    )
    assert matches == 380
    burnley = _team_id(client, admin_headers, "Burnley")
    found = client.get(
        "/v1/matches", params={"team_id": burnley, "limit": 1}, headers=admin_headers
    ).json()["items"][0]
    assert found["kickoff_at"] == "2023-08-11T19:00:00Z"
    assert (found["home_team"]["name"], found["away_team"]["name"]) == ("Burnley", "Man City")
    assert (found["home_score"], found["away_score"]) == (0, 3)
    closing = client.get(f"/v1/matches/{found['id']}/closing-odds", headers=admin_headers).json()
    books = {
        b["name"]: b["id"]
        for b in client.get("/v1/bookmakers", params={"limit": 500}, headers=admin_headers).json()[
            "items"
        ]
    }
    pinnacle = {
        (s["market"], s["selection"], s["line"]): s["price"]
        for s in closing["items"]
        if s["bookmaker_id"] == books["Pinnacle"]
    }
    # The row's PSC*, PC>2.5 / PC<2.5, and PCAHH / PCAHA at AHCh (the home handicap, 1.5).
    assert pinnacle == {
        ("1x2", "home", None): "9.620",
        ("1x2", "draw", None): "5.810",
        ("1x2", "away", None): "1.330",
        ("ou2.5", "over", None): "1.650",
        ("ou2.5", "under", None): "2.350",
        ("ah", "home", "1.50"): "1.950",
        ("ah", "away", "1.50"): "1.970",
    }
    sharp = client.get(f"/v1/bookmakers/{books['Pinnacle']}", headers=admin_headers).json()
    assert sharp["is_sharp"] is True


def test_importing_again_adds_nothing(stack: Any, imported: Any, raw_engine: Engine) -> None:
    before = count_rows(raw_engine, "SELECT count(*) FROM odds_snapshots")
    again = import_files(stack.db, [SEASON])
    assert (again.new_matches, again.inserted) == (0, 0)
    assert again.duplicates == imported.inserted + imported.duplicates
    assert count_rows(raw_engine, "SELECT count(*) FROM odds_snapshots") == before


def test_profile_and_head_to_head_agree_with_the_csv(
    imported: Any, client: TestClient, admin_headers: dict[str, str]
) -> None:
    rows = _rows(SEASON)
    recomputed = client.post("/v1/analytics/recompute", headers=admin_headers)
    assert recomputed.status_code == 200
    assert recomputed.json()["teams"] >= 20
    city = [r for r in rows if "Man City" in (r["HomeTeam"], r["AwayTeam"])]
    goals_for = sum(int(r["FTHG"] if r["HomeTeam"] == "Man City" else r["FTAG"]) for r in city)
    goals_against = sum(int(r["FTAG"] if r["HomeTeam"] == "Man City" else r["FTHG"]) for r in city)
    city_id = _team_id(client, admin_headers, "Man City")
    profile = client.get(f"/v1/teams/{city_id}/profile", headers=admin_headers).json()
    assert profile["matches"] == 38
    assert profile["goals_for_per_match"] == round(goals_for / 38, 4)
    assert profile["goals_against_per_match"] == round(goals_against / 38, 4)
    last5 = city[-5:]
    expected_form = []
    for r in last5:
        mine, theirs = ("FTHG", "FTAG") if r["HomeTeam"] == "Man City" else ("FTAG", "FTHG")
        diff = int(r[mine]) - int(r[theirs])
        expected_form.append("W" if diff > 0 else "D" if diff == 0 else "L")
    assert profile["form"] == expected_form
    home = [r for r in city if r["HomeTeam"] == "Man City"]
    assert profile["home_win_rate"] == round(sum(r["FTR"] == "H" for r in home) / len(home), 4)

    arsenal_id = _team_id(client, admin_headers, "Arsenal")
    meetings = [r for r in rows if {r["HomeTeam"], r["AwayTeam"]} == {"Man City", "Arsenal"}]
    city_wins = sum(
        (r["HomeTeam"] == "Man City" and r["FTR"] == "H")
        or (r["AwayTeam"] == "Man City" and r["FTR"] == "A")
        for r in meetings
    )
    h2h = client.get(
        "/v1/analytics/head-to-head",
        params={"team_a": city_id, "team_b": arsenal_id},
        headers=admin_headers,
    )
    body = h2h.json()
    assert body["meetings"] == len(meetings) == 2
    assert body["team_a_wins"] == city_wins
    assert body["draws"] == sum(r["FTR"] == "D" for r in meetings)
    swapped = client.get(
        "/v1/analytics/head-to-head",
        params={"team_a": arsenal_id, "team_b": city_id},
        headers=admin_headers,
    ).json()
    assert (swapped["team_a_wins"], swapped["team_b_wins"]) == (
        body["team_b_wins"],
        body["team_a_wins"],
    )
    assert_problem(
        client.get(
            "/v1/analytics/head-to-head",
            params={"team_a": city_id, "team_b": city_id},
            headers=admin_headers,
        ),
        422,
    )


def test_cli_names_a_bad_file_and_imports_the_good_ones(
    tmp_path: Path, stack: Any, imported: Any
) -> None:
    bad = tmp_path / "E0_bad.csv"
    lines = SEASON.read_text(encoding="utf-8-sig").splitlines()
    lines[3] = lines[3].replace("2023", "20x3", 1)
    bad.write_text("\n".join(lines) + "\n")
    env = {"DATABASE_URL": stack.url.render_as_string(hide_password=False), "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "backend.scripts.import_football_data", str(bad), str(SEASON)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert "E0_bad.csv: line 4, column Date" in result.stderr
    assert "imported 1/2 files: 380 matches (0 new)" in result.stdout
