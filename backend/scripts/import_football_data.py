"""Import football-data.co.uk season CSVs: teams, bookmakers, finished matches and odds.

    python -m backend.scripts.import_football_data data/football-data/E0_2024-25.csv ...

Each file is one transaction: a bad file (named with its line and column) imports nothing,
the others still import. Importing a file again adds nothing. Exit status 1 if any file failed.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from backend.core.config import load_settings
from backend.core.database import Database, create_database
from backend.core.principal import system
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.football_data import SeasonFile, SeasonFileError, read


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
                [match_id, books[p.book], p.market, p.selection, p.price, p.captured_at.isoformat()]
            )
            snapshots += 1
    inserted = 0
    if snapshots:
        uow.odds.stage(buffer.getvalue().encode())
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
        result = uow.run(import_season, season)
        summary.matches += result.matches
        summary.new_matches += result.new_matches
        summary.inserted += result.inserted
        summary.duplicates += result.duplicates
        summary.skipped_prices += result.skipped_prices
    summary.seconds = time.perf_counter() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.scripts.import_football_data",
        description="Import football-data.co.uk season CSV files.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    args = parser.parse_args(argv)
    db = create_database(load_settings())
    try:
        summary = import_files(
            db, args.files, progress=not args.no_progress and sys.stderr.isatty()
        )
    finally:
        db.dispose()
    print(summary.line())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
