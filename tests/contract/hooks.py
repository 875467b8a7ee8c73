"""schemathesis hooks for `make fuzz`, loaded through tests/contract/schemathesis.toml.

The server's rules that JSON Schema cannot state. Each exception below drops one kind of
"schema-valid request rejected" failure (ST202, positive_data_acceptance), and only when the
server's answer names that very rule, for the reason given with it: every other rejection of
valid data on the same operation still fails the run. Nothing else is excused here (the
status-level exceptions are in schemathesis.toml, with theirs).
"""

from __future__ import annotations

import atexit
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

POSITIVE_DATA_REJECTED = "ST202"
PROBLEMS = "https://oddsdesk.dev/problems/"


@dataclass(frozen=True)
class Answer:
    """What the server said: status, problem type (its slug) and the failing inputs."""

    status: int
    slug: str
    detail: str
    errors: list[tuple[tuple[Any, ...], str]]


def _answer(response: Any) -> Answer | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not str(body.get("type", "")).startswith(PROBLEMS):
        return None
    errors = [
        (tuple(e.get("loc", ())), str(e.get("msg", "")))
        for e in body.get("errors") or ()
        if isinstance(e, dict)
    ]
    return Answer(
        response.status_code, body["type"][len(PROBLEMS) :], str(body.get("detail", "")), errors
    )


def _value_at(case: Any, loc: tuple[Any, ...]) -> Iterator[Any]:
    """The request value an error's `loc` points at (none if it cannot be found)."""
    if not loc:
        return
    where, path = loc[0], loc[1:]
    if where == "body" and isinstance(case.body, str) and path[:1] == ("line",):
        yield from _csv_row(case.body, path[1:])
        return
    if where == "body":
        value = case.body
    elif where == "query":
        value = case.query or {}
    else:
        return
    for part in path:
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (in_list or (isinstance(value, dict) and part in value)):
            return
        value = value[part]
    yield value


def _csv_row(text: str, path: tuple[Any, ...]) -> Iterator[Any]:
    """A CSV batch's row at `line` (1 is the header) as {column: value}."""
    lines = text.split("\n")
    if len(path) != 1 or not isinstance(path[0], int) or not 1 < path[0] <= len(lines):
        return
    header = [c.strip() for c in lines[0].rstrip("\r").split(",")]
    yield dict(zip(header, lines[path[0] - 1].rstrip("\r").split(","), strict=False))


def _captured_at(case: Any, loc: tuple[Any, ...]) -> Iterator[Any]:
    """The `captured_at` an odds batch error points at, in JSON (field named) or CSV (row)."""
    if loc[-1:] == ("captured_at",):
        yield from _value_at(case, loc)
    elif loc[1:2] == ("line",):
        for row in _value_at(case, loc):
            if isinstance(row, dict) and "captured_at" in row:
                yield row["captured_at"]


# -- the rules: each excuses one error of a 422 (or, stale_etag, a 412) --------------------


def stale_etag(case: Any, answer: Answer) -> bool:
    """A well-formed ETag that is not the resource's current version: 412 is the right answer
    (RFC 9110 §13.1.1). The document can give the ETag's form, never the version the row is at
    when the request arrives."""
    return answer.status == 412 and answer.detail.startswith("the resource is at version")


Rule = Callable[[Any, Answer, tuple[Any, ...], str], bool]


def foreign_cursor(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """`cursor` is opaque and signed (HMAC with CURSOR_SECRET): only a cursor this server issued
    is valid (API.md, cursors). The document gives its length and alphabet, not its
    signature."""
    return loc == ("query", "cursor") and msg == "cursor is not one this API issued"


_MUST_DIFFER = ("team_a and team_b must differ", "home_team_id and away_team_id must differ")


def same_team_twice(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """Two ids that must name different teams (head-to-head's team_a/team_b, a match's home and
    away team): JSON Schema cannot compare one value with another."""
    return msg in _MUST_DIFFER


def season_years(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """`season` is "YYYY-YY" with YY the year after YYYY (2025-26): the document gives the shape
    (`^[0-9]{4}-[0-9]{2}$`); the arithmetic between the two parts is the validator's."""
    return msg.startswith('season must be "YYYY-YY" with the second year following the first')


_ORDERED = ("min_price is above max_price", "kickoff_from is not before kickoff_to")


def bounds_out_of_order(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """A backtest's price band and kickoff window must be in order (min_price <= max_price,
    kickoff_from < kickoff_to): JSON Schema cannot compare one value with another."""
    return msg in _ORDERED


_MISSING_ROW = (
    "match_id must be the id of an existing match",
    "bookmaker_id must be the id of an existing bookmaker",
)


def unknown_reference(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """A body naming a row that does not exist (a match's teams, a snapshot's match or
    bookmaker) is 422 (API.md): which ids exist is data, not schema."""
    return answer.slug == "invalid-reference" or msg in _MISSING_ROW


def _integral_float(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def integer_written_as_float(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """JSON Schema's `integer` takes any number with a zero fraction (`8.0`); the server's ids
    and scores are strict: a number written with a fraction is refused (422), as a client bug.
    JSON Schema sees the value, not how it was written, so it cannot say this."""
    return msg in ("Input should be a valid integer", "must be an integer id") and any(
        _integral_float(v) for v in _value_at(case, loc)
    )


def blank_after_trimming(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """Names and reasons are trimmed before their length is checked (API.md: "1-100 characters
    after trimming"): `minLength` counts the untrimmed text, so "  " passes the schema and is
    empty to the server."""
    return msg.startswith("String should have at least 1 character") and any(
        isinstance(v, str) and v and not v.strip() for v in _value_at(case, loc)
    )


def _instant(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value).replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


_CAPTURED_AT_RULE = "captured_at must be an RFC 3339 timestamp with an offset"


def capture_in_the_future(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """A snapshot's `captured_at` may not be more than 5 minutes ahead of the server's clock
    (API.md): a bound that moves with time, which JSON Schema cannot hold."""
    ahead = datetime.now(UTC) + timedelta(minutes=5)
    return msg.startswith(_CAPTURED_AT_RULE) and any(
        (at := _instant(v)) is not None and at > ahead for v in _captured_at(case, loc)
    )


def impossible_csv_instant(case: Any, answer: Answer, loc: tuple[Any, ...], msg: str) -> bool:
    """In a CSV batch, `captured_at` is text inside text: the document gives its pattern (the
    one the server checks first), but `format: date-time`, which would exclude 2024-02-30 or
    25:00, applies to JSON strings only. (JSON batches and every other timestamp carry it.)"""
    return (
        msg.startswith(_CAPTURED_AT_RULE)
        and loc[1:2] == ("line",)
        and any(_instant(v) is None for v in _captured_at(case, loc))
    )


RULES: tuple[Rule, ...] = (
    foreign_cursor,
    same_team_twice,
    season_years,
    bounds_out_of_order,
    unknown_reference,
    integer_written_as_float,
    blank_after_trimming,
    capture_in_the_future,
    impossible_csv_instant,
)

# How often each exception was used, by operation: printed when schemathesis exits.
USED: Counter[tuple[str, str]] = Counter()


def _excuse(case: Any, answer: Answer) -> list[str] | None:
    """The exceptions that together account for the whole rejection, or None."""
    if stale_etag(case, answer):
        return [stale_etag.__name__]
    if answer.status != 422 or not answer.errors:
        return None
    used = []
    for loc, msg in answer.errors:
        rule = next((r for r in RULES if r(case, answer, loc, msg)), None)
        if rule is None:
            return None
        used.append(rule.__name__)
    return used


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except a rejection of valid data for the reasons above."""
    if getattr(failure, "code", None) != POSITIVE_DATA_REJECTED:
        return True
    answer = _answer(response)
    used = None if answer is None else _excuse(case, answer)
    if used is None:
        return True
    for name in dict.fromkeys(used):
        USED[name, f"{case.method} {case.operation.path}"] += 1
    return False


# A long-poll that finds nothing waits `wait` seconds (up to 30): the fuzzer's generated waits
# are shortened to 1 s (a valid value stays valid), so thousands of cases do not take hours
# and no answer comes after the client's timeout. tests/api/test_events.py covers the wait.
LONG_POLL = ("GET", "/v1/events")
LONGEST_FUZZED_WAIT = 1


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    if (case.method, case.operation.path) != LONG_POLL or not isinstance(case.query, dict):
        return
    wait = case.query.get("wait")
    if isinstance(wait, int) and not isinstance(wait, bool) and 1 < wait <= 30:
        case.query["wait"] = LONGEST_FUZZED_WAIT


@atexit.register
def _report() -> None:
    if USED:
        print("\nValid data rejected for a rule the document cannot state (hooks.py):")
        for (name, operation), count in sorted(USED.items()):
            print(f"  {name}: {operation} x{count}")
