"""Import football-data.co.uk season CSVs: teams, bookmakers, finished matches and odds.

    python -m backend.scripts.import_football_data data/football-data/E0_2024-25.csv ...

Each file is one transaction: a bad file (named with its line and column) imports nothing,
the others still import. Importing a file again adds nothing. Exit status 1 if any file failed;
2, with one line on stderr, if the database cannot be reached or is not migrated (checked
before the first file, and on any database error after it: that stops the run).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import URL
from tqdm import tqdm

from backend.core.config import load_settings
from backend.core.database import Database, create_database
from backend.core.db_errors import sqlstate
from backend.core.logging import configure_logging
from backend.core.principal import system
from backend.repositories.odds import COLUMNS, OPTIONAL_COLUMNS
from backend.repositories.unit_of_work import UnitOfWork
from backend.scripts.migrate import alembic_config
from backend.services.football_data import SeasonFile, SeasonFileError, read
from backend.services.use_case import use_case

log = logging.getLogger("oddsdesk.import")
NOT_MIGRATED = "the database is not migrated (run `alembic upgrade head`)"
UNDEFINED_TABLE = "42P01"


@dataclass
class FileResult:
    matches: int
    new_matches: int
    snapshots: int
    inserted: int
    skipped_prices: int

    @property
    def duplicates(self) -> int:
        return self.snapshots - self.inserted


@use_case
def import_season(uow: UnitOfWork, season: SeasonFile) -> FileResult:
    fixtures = season.fixtures
    league, label = fixtures[0].league, fixtures[0].season
    names = sorted({f.home for f in fixtures} | {f.away for f in fixtures})
    teams = uow.imports.teams(names, league=league, country=None)
    books = uow.imports.bookmakers([(b.name, b.is_sharp) for b in season.books])
    rows = [
        (teams[f.home], teams[f.away], f.kickoff_at, f.home_score, f.away_score) for f in fixtures
    ]
    new = uow.imports.finished_matches(league, label, rows)
    ids = uow.imports.match_ids([r[:3] for r in rows])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    snapshots = 0
    for fixture, row in zip(fixtures, rows, strict=True):
        match_id = ids[row[:3]]
        for p in fixture.prices:
            writer.writerow(
                [
                    match_id,
                    books[p.book],
                    p.market,
                    p.selection,
                    p.price,
                    p.captured_at.isoformat(),
                    p.line,  # None: an empty cell, NULL
                ]
            )
            snapshots += 1
    inserted = 0
    if snapshots:
        uow.odds.stage(buffer.getvalue().encode(), (*COLUMNS, *OPTIONAL_COLUMNS))
        bad = uow.odds.invalid_rows()
        if bad:  # the parser already checked every value: this would be a bug, not bad data
            raise RuntimeError(f"staged odds failed validation: {bad[:3]}")
        inserted = uow.odds.insert_staged()
    uow.commit()
    return FileResult(len(fixtures), new, snapshots, inserted, season.skipped_prices)


@dataclass
class Summary:
    files: int = 0
    failed: int = 0
    matches: int = 0
    new_matches: int = 0
    inserted: int = 0
    duplicates: int = 0
    skipped_prices: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"imported {self.files - self.failed}/{self.files} files: {self.matches} matches "
            f"({self.new_matches} new), {self.inserted} snapshots inserted, "
            f"{self.duplicates} duplicates, {self.skipped_prices} prices out of range skipped, "
            f"in {self.seconds:.1f} s"
        )


def import_files(db: Database, paths: list[Path], progress: bool = False) -> Summary:
    summary = Summary(files=len(paths))
    started = time.perf_counter()
    bar = tqdm(paths, unit="file", disable=not progress, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name)
        try:
            season = read(path)
        except (SeasonFileError, OSError) as exc:
            summary.failed += 1
            tqdm.write(f"error: {exc}", file=sys.stderr)
            continue
        uow = UnitOfWork(
            db.session_factory,
            system("importer"),
            request_id=f"import-{uuid.uuid4().hex[:12]}",
            change_reason=f"football-data import of {path.name}",
        )
        result = import_season(uow, season)
        summary.matches += result.matches
        summary.new_matches += result.new_matches
        summary.inserted += result.inserted
        summary.duplicates += result.duplicates
        summary.skipped_prices += result.skipped_prices
    summary.seconds = time.perf_counter() - started
    return summary


class DatabaseProblem(Exception):
    """The database cannot be used at all: the run stops (exit status 2)."""


def shown(url: URL) -> str:
    """The URL as an error message may show it: no password, no query options."""
    return url.set(drivername="postgresql", query={}).render_as_string(hide_password=True)


def _reason(exc: sa_exc.DBAPIError) -> str:
    """libpq's first line, without its "connection to server at ... failed:" prefix."""
    lines = str(exc.orig).strip().splitlines() or ["unknown error"]
    first = re.sub(r"^connection to server (at|on) .*? failed: ", "", lines[0].strip())
    first = re.sub(r"^(FATAL|ERROR):\s+", "", first)
    return first[:1].lower() + first[1:] if first[1:2].islower() else first


def describe(exc: sa_exc.DBAPIError, url: URL, connecting: bool) -> str:
    if sqlstate(exc) == UNDEFINED_TABLE:
        return NOT_MIGRATED
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and not sqlstate(exc):
        doing = "cannot connect to" if connecting else "lost the connection to"
        return f"{doing} the database at {shown(url)}: {_reason(exc)}"
    code = f" (SQLSTATE {sqlstate(exc)})" if sqlstate(exc) else ""
    return f"database error{code} at {shown(url)}: {_reason(exc)}"


def check_schema(db: Database) -> None:
    """Refuse a database that is not migrated to this code's revision, before any file."""
    with db.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
            raise DatabaseProblem(NOT_MIGRATED)
        current = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    scripts = ScriptDirectory.from_config(alembic_config())
    heads = set(scripts.get_heads())
    if not current:
        raise DatabaseProblem(NOT_MIGRATED)
    if current != heads:
        at, need = ", ".join(sorted(current)), ", ".join(sorted(heads))
        known = {rev.revision for rev in scripts.walk_revisions()}
        if current <= known:
            raise DatabaseProblem(
                f"the database is at revision {at}, not {need} (run `alembic upgrade head`)"
            )
        raise DatabaseProblem(f"the database is at revision {at}, unknown to this code")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.scripts.import_football_data",
        description="Import football-data.co.uk season CSV files.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format.value)
    db = create_database(settings)
    connecting = True
    try:
        check_schema(db)
        connecting = False
        summary = import_files(
            db, args.files, progress=not args.no_progress and sys.stderr.isatty()
        )
    except DatabaseProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sa_exc.DBAPIError as exc:
        log.debug("database error", exc_info=True)  # the traceback, with LOG_LEVEL=DEBUG
        print(f"error: {describe(exc, settings.sqlalchemy_url, connecting)}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(summary.line())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
