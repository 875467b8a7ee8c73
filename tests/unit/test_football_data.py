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


# -- damaged files: every row the header's width, the importer's own words ------------------

SEASON = DATA / "E0_2023-24.csv"
HEADER = SEASON.read_text().splitlines()[0].split(",")


def _write(tmp_path: Path, text: str, name: str = "broken.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def _lines() -> list[str]:
    return SEASON.read_text().splitlines()


def _error(path: Path) -> str:
    with pytest.raises(SeasonFileError) as info:
        read(path)
    return str(info.value)


def test_a_row_cut_after_column_31_is_refused_with_both_widths(tmp_path: Path) -> None:
    lines = _lines()
    lines[186] = ",".join(lines[186].split(",")[:31])
    path = _write(tmp_path, "\r\n".join(lines) + "\r\n")
    assert _error(path) == (
        f"broken.csv: line 187, column {HEADER[31]}: 31 columns, the header has 106"
    )


def test_a_row_with_extra_cells_is_refused(tmp_path: Path) -> None:
    lines = _lines()
    lines[49] += ",1.95"
    path = _write(tmp_path, "\r\n".join(lines) + "\r\n")
    assert _error(path) == "broken.csv: line 50, column -: 107 columns, the header has 106"


def test_a_download_cut_inside_a_closing_price_is_refused(tmp_path: Path) -> None:
    text = SEASON.read_text()
    row = text.index("\nE0,17/12/2023,14:00,Arsenal,Brighton") + 1
    cells = text[row:].split(",")
    assert (HEADER[76], cells[76]) == ("PSCA", "6.82")  # the Pinnacle closing away price
    cut = text[: row + len(",".join(cells[:76])) + len(",6.8")]
    assert cut.endswith(",6.8")
    message = _error(_write(tmp_path, cut))
    assert message.startswith(f"broken.csv: line 167, column {HEADER[77]}: 77 columns, ")
    assert "the header has 106" in message and "the file ends mid-row" in message


def test_blank_trailing_lines_are_accepted_but_not_blank_rows_inside(tmp_path: Path) -> None:
    lines = _lines()
    trailing = "\r\n".join([*lines, "," * 105, ",,,", ""]) + "\r\n"
    assert len(read(_write(tmp_path, trailing)).fixtures) == 380
    lines.insert(100, "," * 105)
    message = _error(_write(tmp_path, "\r\n".join(lines) + "\r\n"))
    assert message.startswith("broken.csv: line 101, column -: an empty row")


@pytest.mark.parametrize("value", ["25:99", "7pm", "19.30", "24:00", "12:5"])
def test_a_bad_time_is_named_at_column_time(tmp_path: Path, value: str) -> None:
    assert _error(_broken(tmp_path, 5, "Time", value)) == (
        f"broken.csv: line 5, column Time: {value!r} is not a time (HH:MM)"
    )


def test_a_non_utf8_byte_is_named_at_its_line_and_column(tmp_path: Path) -> None:
    lines = _lines()
    cells = lines[99].split(",")
    cells[HEADER.index("Referee")] = "M Dean"
    lines[99] = ",".join(cells)
    data = ("\r\n".join(lines) + "\r\n").encode().replace(b"M Dean", b"M D\xe9an")
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\xef\xbb\xbf" + data)  # a BOM does not shift anything
    assert _error(path).startswith("latin1.csv: line 100, column Referee: not UTF-8 text")


@pytest.mark.parametrize(("separator", "named"), [(";", "';'"), ("\t", "tabs")])
def test_a_file_saved_with_another_separator_gets_a_hint(
    tmp_path: Path, separator: str, named: str
) -> None:
    path = _write(tmp_path, SEASON.read_text().replace(",", separator))
    assert _error(path) == (
        f"broken.csv: line 1, column Div: the file looks separated by {named}"
        " — football-data files use ','"
    )


def test_an_empty_file_is_named(tmp_path: Path) -> None:
    assert _error(_write(tmp_path, "")) == "broken.csv: line 1, column -: the file is empty"
