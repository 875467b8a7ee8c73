"""The importer as a user runs it: a subprocess, its stderr, its exit code, and the rows stored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from backend.scripts import localdb
from tests.helpers import count_rows

DATA = Path(__file__).resolve().parents[2] / "data" / "football-data"
SEASON = DATA / "E0_2023-24.csv"
GOOD = DATA / "E0_2022-23.csv"
HEADER = SEASON.read_text().splitlines()[0].split(",")


def run_cli(
    url: URL | str, *files: Path, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    database_url = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    environment = {"PATH": os.environ.get("PATH", "/usr/bin"), "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "backend.scripts.import_football_data", *map(str, files)],
        capture_output=True,
        text=True,
        env={**environment, **env},
        cwd=cwd,  # away from any .env of the working tree
        timeout=300,
        check=False,
    )


def stored(engine: Engine) -> tuple[int, int]:
    return (
        count_rows(engine, "SELECT count(*) FROM matches"),
        count_rows(engine, "SELECT count(*) FROM odds_snapshots"),
    )


# -- bad files: named, and nothing of them stored ---------------------------------------------


def _cut_inside_a_closing_price(text: str) -> str:
    row = text.index("\nE0,17/12/2023,14:00,Arsenal,Brighton") + 1
    cells = text[row:].split(",")
    return text[: row + len(",".join(cells[:76])) + len(",6.8")]  # PSCA 6.82 cut to "6.8"


def _row_cut_after_column_31(text: str) -> str:
    lines = text.split("\n")
    lines[186] = ",".join(lines[186].split(",")[:31]) + "\r"
    return "\n".join(lines)


def _bad_time(text: str) -> str:
    return text.replace("11/08/2023,20:00,Burnley", "11/08/2023,7pm,Burnley", 1)


def _latin1(text: str) -> bytes:
    return text.replace("Man City", "M\N{LATIN SMALL LETTER A WITH ACUTE}n City", 1).encode(
        "latin-1"
    )


def _semicolons(text: str) -> str:
    return text.replace(",", ";")


BAD_FILES: list[tuple[Callable[[str], str | bytes], str]] = [
    (
        _cut_inside_a_closing_price,
        f"line 167, column {HEADER[77]}: 77 columns, the header has 106 "
        "(the file ends mid-row: an interrupted download?)",
    ),
    (_row_cut_after_column_31, f"line 187, column {HEADER[31]}: 31 columns, the header has 106"),
    (_bad_time, "line 2, column Time: '7pm' is not a time (HH:MM)"),
    (
        _latin1,
        "line 2, column AwayTeam: not UTF-8 text: byte 0xE1 (invalid continuation byte); "
        "re-save the file as UTF-8",
    ),
    (
        _semicolons,
        "line 1, column Div: the file looks separated by ';' — football-data files use ','",
    ),
]


@pytest.mark.parametrize(
    ("damage", "message"), BAD_FILES, ids=[d.__name__.strip("_") for d, _ in BAD_FILES]
)
def test_a_bad_file_is_named_and_nothing_of_it_is_stored(
    tmp_path: Path,
    database_url: URL,
    raw_engine: Engine,
    damage: Callable[[str], str | bytes],
    message: str,
) -> None:
    damaged = damage(SEASON.read_text())
    bad = tmp_path / "E0_bad.csv"
    bad.write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())
    before = stored(raw_engine)
    result = run_cli(database_url, bad, cwd=tmp_path)
    assert result.stderr.splitlines() == [f"error: E0_bad.csv: {message}"]
    assert result.returncode == 1
    assert result.stdout.startswith("imported 0/1 files: 0 matches")
    assert stored(raw_engine) == before


def test_the_good_files_still_import_and_slow_statements_are_logged_with_durations(
    tmp_path: Path, database_url: URL, raw_engine: Engine
) -> None:
    bad = tmp_path / "E0_cut.csv"
    bad.write_text(_cut_inside_a_closing_price(SEASON.read_text()))
    before = stored(raw_engine)
    result = run_cli(database_url, bad, GOOD, cwd=tmp_path, DB_SLOW_QUERY_MS="1")
    assert result.returncode == 1, result.stderr
    assert f"error: E0_cut.csv: line 167, column {HEADER[77]}: 77 columns" in result.stderr
    assert "imported 1/2 files: 380 matches" in result.stdout
    matches, snapshots = stored(raw_engine)
    assert matches == before[0] + count_rows(
        raw_engine, "SELECT count(*) FROM matches WHERE season = '2022-23'"
    )
    assert count_rows(raw_engine, "SELECT count(*) FROM matches WHERE season = '2023-24'") == 0
    assert snapshots > before[1]
    slow = re.findall(
        r"WARNING oddsdesk\.db: slow statement .*?duration_ms=([0-9.]+)", result.stderr
    )
    assert slow, result.stderr[-2000:]
    assert all(float(ms) >= 1 for ms in slow)


# -- database problems: one line, exit 2 ------------------------------------------------------


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/x"
    result = run_cli(url, SEASON, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: cannot connect to the database at postgresql://postgres:***@127.0.0.1:1/x: "
        "connection refused"
    ]
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert result.stdout == ""


@pytest.fixture
def unmigrated(server_url: URL) -> Iterator[URL]:
    name = f"oddsdesk_unmigrated_{uuid.uuid4().hex[:10]}"
    localdb.ensure_database(server_url, name)
    try:
        yield localdb.with_database(server_url, name)
    finally:
        localdb.drop_database(server_url, name)


def test_an_unmigrated_database_is_one_line_and_exit_2(tmp_path: Path, unmigrated: URL) -> None:
    result = run_cli(unmigrated, SEASON, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: the database is not migrated (run `alembic upgrade head`)"
    ]
    assert result.stdout == ""
