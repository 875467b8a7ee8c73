"""The season-file parser on every bundled real file, and on broken copies of one."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backend.services.football_data import SeasonFileError, read

DATA = Path(__file__).resolve().parents[2] / "data" / "football-data"
SEASONS = sorted(DATA.glob("E0_*.csv"))


@pytest.mark.parametrize("path", SEASONS, ids=lambda p: p.name)
def test_every_bundled_season_parses_whole(path: Path) -> None:
    season = read(path)
    assert len(season.fixtures) == 380
    appearances = Counter(n for f in season.fixtures for n in (f.home, f.away))
    assert len(appearances) == 20
    assert set(appearances.values()) == {38}
    assert {f.season for f in season.fixtures} == {path.stem.split("_")[1]}
    assert "Pinnacle" in {b.name for b in season.books}


def test_uk_local_kickoff_becomes_utc_and_prices_are_exact() -> None:
    season = read(DATA / "E0_2023-24.csv")
    first = season.fixtures[0]
    assert (first.home, first.away, first.home_score, first.away_score) == (
        "Burnley",
        "Man City",
        0,
        3,
    )
    assert first.kickoff_at == datetime(2023, 8, 11, 19, 0, tzinfo=UTC)  # 20:00 BST
    closing = {
        (p.book, p.selection): p.price
        for p in first.prices
        if p.market == "1x2" and p.captured_at == first.kickoff_at
    }
    assert closing[("Pinnacle", "home")] == Decimal("9.62")
    assert closing[("Pinnacle", "draw")] == Decimal("5.81")
    assert closing[("Pinnacle", "away")] == Decimal("1.33")
    winter = next(f for f in season.fixtures if f.kickoff_at.month == 12)
    assert winter.kickoff_at.utcoffset() is not None


def _broken(tmp_path: Path, line: int, column: str, value: str) -> Path:
    lines = (DATA / "E0_2023-24.csv").read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path = tmp_path / "broken.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


@pytest.mark.parametrize(
    ("line", "column", "value"),
    [(5, "Date", "31/02/2023"), (7, "FTHG", "x"), (9, "PSCH", "abc"), (12, "Date", "2023-08-12")],
)
def test_bad_cells_are_named_by_file_line_and_column(
    tmp_path: Path, line: int, column: str, value: str
) -> None:
    with pytest.raises(SeasonFileError) as info:
        read(_broken(tmp_path, line, column, value))
    assert str(info.value).startswith(f"broken.csv: line {line}, column {column}:")


def test_two_digit_years_and_missing_columns(tmp_path: Path) -> None:
    assert read(_broken(tmp_path, 2, "Date", "11/08/23")).fixtures[0].kickoff_at.year == 2023
    text = (DATA / "E0_2023-24.csv").read_text().replace("FTHG", "HomeGoals", 1)
    path = tmp_path / "renamed.csv"
    path.write_text(text)
    with pytest.raises(SeasonFileError, match="line 1, column FTHG"):
        read(path)
