"""Reading football-data.co.uk season files as they are published.

Columns are found by name (headers differ between seasons), files may start with a UTF-8 BOM
and use CRLF or LF, dates are day-first (`dd/mm/yy` or `dd/mm/yyyy`), times are UK local, and
an empty cell means "no price". Opening prices are stored as captured two days before kickoff
(football-data records them when it compiles the fixtures, a day or more ahead); closing prices
(the `C` columns) are captured at kickoff.

Asian handicap prices (market `ah`) are at the line of their row: `AHh` for the opening prices
(`PAHH`, `PAHA`, ...), `AHCh` for the closing ones (`PCAHH`, `PCAHA`, ...); both are the home
team's handicap, as the market's `line` is. A row without its line has no handicap prices.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from backend.core.markets import line_error
from backend.services.football_data_rows import Row, SeasonFileError, decode, kickoff_time, rows

__all__ = ["BOOKS", "Book", "Fixture", "Price", "SeasonFile", "SeasonFileError", "read"]

UK = ZoneInfo("Europe/London")
OPENING_LEAD = timedelta(days=2)
DEFAULT_KICKOFF = "15:00"  # older files have no Time column
LEAGUES = {
    "E0": "Premier League",
    "E1": "Championship",
    "SP1": "La Liga",
    "D1": "Bundesliga",
    "I1": "Serie A",
    "F1": "Ligue 1",
}
REQUIRED = ("Div", "Date", "HomeTeam", "AwayTeam", "FTHG", "FTAG")
SCORE = re.compile(r"[0-9]{1,2}")
PRICE_MIN, PRICE_MAX = Decimal("1.001"), Decimal("1000")


@dataclass(frozen=True)
class Book:
    name: str
    is_sharp: bool
    x12_open: str
    x12_close: str
    ou_open: str | None = None
    ou_close: str | None = None
    ah_open: str | None = None  # prefix of the AH columns: f"{ah_open}AHH", f"{ah_open}AHA"
    ah_close: str | None = None


# Aggregates (Max*, Avg*) are not bookmakers and are not imported.
BOOKS = (
    Book("Bet365", False, "B365", "B365C", "B365", "B365C", "B365", "B365C"),
    Book("Bet&Win", False, "BW", "BWC"),
    Book("Interwetten", False, "IW", "IWC"),
    Book("Pinnacle", True, "PS", "PSC", "P", "PC", "P", "PC"),
    Book("William Hill", False, "WH", "WHC"),
    Book("VC Bet", False, "VC", "VCC"),
    Book("Betfair Sportsbook", False, "BF", "BFC"),
    Book("1xBet", False, "1XB", "1XBC"),
    Book("Betfair Exchange", False, "BFE", "BFEC", "BFE", "BFEC", "BFE", "BFEC"),
)
X12 = (("H", "home"), ("D", "draw"), ("A", "away"))
OU = ((">2.5", "over"), ("<2.5", "under"))
AH = (("AHH", "home"), ("AHA", "away"))
AH_LINE_OPEN, AH_LINE_CLOSE = "AHh", "AHCh"


@dataclass
class Price:
    book: str
    market: str
    selection: str
    price: Decimal
    captured_at: datetime
    line: Decimal | None = None  # ah: the home team's handicap


@dataclass
class Fixture:
    line: int
    league: str
    season: str
    home: str
    away: str
    kickoff_at: datetime
    home_score: int
    away_score: int
    prices: list[Price] = field(default_factory=list)


@dataclass
class SeasonFile:
    path: Path
    fixtures: list[Fixture]
    books: list[Book]
    skipped_prices: int


def _date(raw: str) -> datetime:
    for fmt in ("%d/%m/%Y", "%d/%m/%y"):
        try:
            return datetime.strptime(raw.strip(), fmt)
        except ValueError:
            continue
    raise ValueError(f"{raw!r} is not a dd/mm/yy or dd/mm/yyyy date")


def _kickoff(path: Path, line: int, row: Row) -> datetime:
    try:
        day = _date(row["Date"])
    except ValueError as exc:
        raise SeasonFileError(path, line, "Date", str(exc)) from None
    try:
        hour, minute = kickoff_time(row.get("Time", "").strip() or DEFAULT_KICKOFF)
    except ValueError as exc:
        raise SeasonFileError(path, line, "Time", str(exc)) from None
    local = day.replace(hour=hour, minute=minute, tzinfo=UK)
    return local.astimezone(UTC)


def _season(first_kickoff: datetime) -> str:
    start = first_kickoff.year if first_kickoff.month >= 7 else first_kickoff.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def read(path: Path) -> SeasonFile:
    """Parse a whole file, or raise SeasonFileError naming the first bad cell."""
    header, records = rows(path, decode(path, path.read_bytes()), REQUIRED)
    books = [b for b in BOOKS if f"{b.x12_open}H" in header or f"{b.x12_close}H" in header]
    fixtures: list[Fixture] = []
    skipped = 0
    for line, row in records:
        fixture = _fixture(path, line, row, fixtures)
        skipped += _prices(path, line, row, books, fixture)
        fixtures.append(fixture)
    if not fixtures:
        raise SeasonFileError(path, 2, "-", "the file has no matches")
    return SeasonFile(path, fixtures, books, skipped)


def _fixture(path: Path, line: int, row: Row, seen: list[Fixture]) -> Fixture:
    kickoff = _kickoff(path, line, row)
    scores = []
    for column in ("FTHG", "FTAG"):
        raw = row[column].strip()
        if not SCORE.fullmatch(raw):
            raise SeasonFileError(path, line, column, f"{raw!r} is not a score")
        scores.append(int(raw))
    names = []
    for column in ("HomeTeam", "AwayTeam"):
        name = row[column].strip()
        if not name or len(name) > 100:
            raise SeasonFileError(path, line, column, "a team name of 1 to 100 characters")
        names.append(name)
    if names[0].lower() == names[1].lower():
        raise SeasonFileError(path, line, "AwayTeam", "home and away team are the same")
    division = row["Div"].strip()
    season = seen[0].season if seen else _season(kickoff)
    return Fixture(
        line,
        LEAGUES.get(division, division),
        season,
        names[0],
        names[1],
        kickoff,
        scores[0],
        scores[1],
    )


def _columns(book: Book) -> Iterator[tuple[str, str, str, bool]]:
    for suffix, selection in X12:
        yield f"{book.x12_open}{suffix}", "1x2", selection, False
        yield f"{book.x12_close}{suffix}", "1x2", selection, True
    if book.ou_open and book.ou_close:
        for suffix, selection in OU:
            yield f"{book.ou_open}{suffix}", "ou2.5", selection, False
            yield f"{book.ou_close}{suffix}", "ou2.5", selection, True
    if book.ah_open and book.ah_close:
        for suffix, selection in AH:
            yield f"{book.ah_open}{suffix}", "ah", selection, False
            yield f"{book.ah_close}{suffix}", "ah", selection, True


def _ah_line(path: Path, line: int, row: Row, column: str) -> Decimal | None:
    """The row's handicap line in `column` (None: empty or no such column)."""
    raw = (row.get(column) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SeasonFileError(path, line, column, f"{raw!r} is not a handicap line") from None
    problem = line_error("ah", value) if value.is_finite() else "not a number"
    if problem:
        raise SeasonFileError(path, line, column, f"{raw!r}: {problem}")
    return value.quantize(Decimal("0.01"))


def _prices(path: Path, line: int, row: Row, books: list[Book], fixture: Fixture) -> int:
    skipped = 0
    ah_lines = {
        False: _ah_line(path, line, row, AH_LINE_OPEN),
        True: _ah_line(path, line, row, AH_LINE_CLOSE),
    }
    for book in books:
        for column, market, selection, closing in _columns(book):
            raw = (row.get(column) or "").strip()
            if not raw:
                continue  # no price
            ah_line = ah_lines[closing] if market == "ah" else None
            if market == "ah" and ah_line is None:
                continue  # handicap prices without their line: nothing to store
            try:
                price = Decimal(raw)
            except InvalidOperation:
                raise SeasonFileError(path, line, column, f"{raw!r} is not a price") from None
            if not price.is_finite():
                raise SeasonFileError(path, line, column, f"{raw!r} is not a price")
            if not PRICE_MIN <= price <= PRICE_MAX or price != round(price, 3):
                skipped += 1  # a real quote our market model cannot hold; counted
                continue
            at = fixture.kickoff_at if closing else fixture.kickoff_at - OPENING_LEAD
            fixture.prices.append(Price(book.name, market, selection, price, at, ah_line))
    return skipped
