"""Bulk odds ingestion: all-or-nothing, duplicates skipped and counted, rows through COPY."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg2 import DataError
from sqlalchemy.exc import DBAPIError

from backend.core.db_errors import sqlstate
from backend.core.errors import InvalidInput, NotFound
from backend.repositories.odds import COLUMNS, OPTIONAL_COLUMNS, BadRow
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case

MAX_ROWS = 100_000
FIELD_RULES = {
    "match_id": "match_id must be the id of an existing match",
    "bookmaker_id": "bookmaker_id must be the id of an existing bookmaker",
    "market": "market must be 1x2, ou2.5, ah or ou",
    "selection": "selection must be home, draw or away (1x2), home or away (ah), or over or "
    "under (ou2.5, ou)",
    "line": "line is required for ah (the home handicap, -10 to 10) and ou (0.25 to 20, not "
    "2.5: that is market ou2.5) in quarter goals, and must be absent for 1x2 and ou2.5",
    "price": "price must be a decimal from 1.001 to 1000 with at most 3 places",
    "captured_at": "captured_at must be an RFC 3339 timestamp with an offset, "
    "not more than 5 minutes ahead",
}
# CSV formula injection is not a concern here: the text only ever reaches COPY.
_REQUIRED = frozenset(COLUMNS)
_ALLOWED = _REQUIRED | frozenset(OPTIONAL_COLUMNS)
_JSON_COLUMNS = (*COLUMNS, *OPTIONAL_COLUMNS)


class BatchInvalid(InvalidInput):
    """Some rows are invalid: nothing is stored, and `errors` names them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["msg"], loc=errors[0]["loc"])
        self.errors = errors


@dataclass(frozen=True)
class Batch:
    """Validated-in-shape rows as CSV text, and how to name a row in an error."""

    csv: bytes
    columns: tuple[str, ...]
    rows: int
    kind: str  # "json" or "csv"

    def loc(self, row_no: int, field: str) -> list[str | int]:
        if self.kind == "json":
            return ["body", "snapshots", row_no - 1, field]
        return ["body", "line", row_no + 1]  # the header is line 1


@dataclass(frozen=True)
class BatchResult:
    received: int
    inserted: int
    duplicates: int


def _count_error(rows: int) -> InvalidInput:
    return InvalidInput(f"a batch has 1 to {MAX_ROWS} rows; this one has {rows}", loc=("body",))


def parse_json(body: bytes) -> Batch:
    """`{"snapshots": [...]}`: shape and types here, values in SQL after COPY."""
    try:
        # parse_float=str keeps a price exactly as written ("2.150"), never a binary float.
        doc = json.loads(body, parse_float=str, parse_constant=_reject)
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"snapshots"}:
        raise InvalidInput('body must be {"snapshots": [...]}', loc=("body",))
    rows = doc["snapshots"]
    if not isinstance(rows, list):
        raise InvalidInput("snapshots must be a list", loc=("body", "snapshots"))
    if not 1 <= len(rows) <= MAX_ROWS:
        raise _count_error(len(rows))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        problem = _shape_problem(row)
        if problem is not None:
            field, msg = problem
            errors.append({"loc": ["body", "snapshots", i, field], "msg": msg})
            if len(errors) >= 20:
                break
            continue
        writer.writerow([row.get(c) for c in _JSON_COLUMNS])  # None: an empty cell, NULL
    if errors:
        raise BatchInvalid(errors)
    return Batch(out.getvalue().encode(), _JSON_COLUMNS, len(rows), "json")


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class MalformedBody(ValueError):
    pass


def _shape_problem(row: Any) -> tuple[str, str] | None:
    if not isinstance(row, dict):
        return "row", "each snapshot must be an object"
    extra = set(row) - _ALLOWED
    if extra:
        return sorted(extra)[0], "unknown field"
    for field in COLUMNS:
        if field not in row:
            return field, "field required"
    for field in ("match_id", "bookmaker_id"):
        value = row[field]
        if isinstance(value, bool) or not isinstance(value, int):
            return field, "must be an integer id"
    for field in ("market", "selection", "captured_at"):
        if not isinstance(row[field], str):
            return field, "must be a string"
    price = row["price"]
    if isinstance(price, bool) or not isinstance(price, int | str):
        return "price", "must be a decimal number or string"
    line = row.get("line")
    if isinstance(line, bool) or not isinstance(line, int | str | None):
        return "line", "must be a decimal number or string, or null"
    return None


def parse_csv(body: bytes) -> Batch:
    """A header naming the six columns, and optionally `line`, in any order; then data rows."""
    text_body = body.decode("utf-8-sig", errors="strict") if body else ""
    header, _, rest = text_body.partition("\n")
    columns = tuple(c.strip() for c in header.rstrip("\r").split(","))
    if not _REQUIRED <= set(columns) <= _ALLOWED or len(set(columns)) != len(columns):
        raise InvalidInput(
            f"the CSV header must be {','.join(COLUMNS)} (any order), with an optional line",
            loc=("body", "line", 1),
        )
    rows = rest.count("\n") + (0 if rest.endswith("\n") or not rest else 1)
    if not 1 <= rows <= MAX_ROWS:
        raise _count_error(rows)
    return Batch(rest.encode(), columns, rows, "csv")


@use_case
def ingest(uow: UnitOfWork, batch: Batch) -> BatchResult:
    """Stage with COPY, validate set-based, insert once; any bad row stores nothing."""
    try:
        uow.odds.stage(batch.csv, batch.columns)
    except DataError as exc:  # a row COPY could not split into the six columns
        raise BatchInvalid(
            [
                {
                    "loc": batch.loc(_copy_line(exc), "row"),
                    "msg": f"row is not {len(batch.columns)} comma-separated fields",
                }
            ]
        ) from None
    try:
        bad = uow.odds.invalid_rows()
    except DBAPIError as exc:
        if not (sqlstate(exc) or "").startswith("22"):
            raise
        # A timestamp of the right shape that is no date (2024-02-30): find it in Python.
        bad = [_impossible_timestamp(batch)]
    if bad:
        raise BatchInvalid(
            [{"loc": batch.loc(b.row_no, b.field), "msg": FIELD_RULES[b.field]} for b in bad]
        )
    inserted = uow.odds.insert_staged()
    uow.commit()
    return BatchResult(received=batch.rows, inserted=inserted, duplicates=batch.rows - inserted)


def _impossible_timestamp(batch: Batch) -> BadRow:
    position = batch.columns.index("captured_at")
    for row_no, row in enumerate(csv.reader(io.StringIO(batch.csv.decode())), start=1):
        try:
            datetime.fromisoformat(row[position].replace("z", "Z").replace("t", "T"))
        except ValueError:
            return BadRow(row_no, "captured_at")
    return BadRow(1, "captured_at")


def _copy_line(exc: BaseException) -> int:
    """The data row COPY stopped at, from its error context ("COPY odds_in, line 7")."""
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    for part in context.replace(":", ",").split(","):
        part = part.strip()
        if part.startswith("line "):
            try:
                return int(part.split()[1])
            except ValueError:
                break
    return 1


@use_case
def latest_odds(uow: UnitOfWork, match_id: int, at: datetime | None) -> Sequence[Any]:
    """Latest prices at `at` (now by default): one statement, 404 included."""
    found = uow.odds.latest(match_id, at or datetime.now(UTC))
    if found is None:
        raise NotFound("match", match_id)
    return found


@use_case
def closing_odds(uow: UnitOfWork, match_id: int) -> Sequence[Any]:
    """The closing line: latest prices at kickoff."""
    found = uow.odds.latest(match_id, None)
    if found is None:
        raise NotFound("match", match_id)
    return found
