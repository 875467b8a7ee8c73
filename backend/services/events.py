"""The event feed: a tenant's domain events after a position, for a client to resume exactly
where it stopped (see repositories/events.py for why the order is stable)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.core.errors import InvalidInput
from backend.models.events import EVENT_TYPES
from backend.repositories.events import START, EventRow, Position
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case

MAX_LIMIT = 1000
MAX_WAIT_S = 30
_CURSOR = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")


@dataclass(frozen=True)
class FeedQuery:
    after: Position
    types: list[str] | None
    limit: int


@dataclass(frozen=True)
class FeedPage:
    events: list[EventRow]
    cursor: Position  # after the last event (the query's own position when there is none)
    held_back: bool  # later events exist, behind a transaction still open


def parse_cursor(raw: str | None) -> Position:
    if raw is None or raw == "":
        return START
    match = _CURSOR.fullmatch(raw)
    if match is None or max(int(match[1]), int(match[2])) >= 2**63:
        raise InvalidInput("after must be a cursor from an earlier answer", loc=("query", "after"))
    return Position(int(match[1]), int(match[2]))


def parse_types(raw: str | None) -> list[str] | None:
    """`types=bet.settled,bet.voided` (comma-separated; none: every type)."""
    if raw is None or raw.strip() == "":
        return None
    types = [t.strip() for t in raw.split(",")]
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0]!r}; types are: {', '.join(EVENT_TYPES)}",
            loc=("query", "types"),
        )
    return sorted(set(types))


@use_case
def read(uow: UnitOfWork, query: FeedQuery) -> FeedPage:
    events, held = uow.events.after(query.after, query.types, query.limit)
    cursor = events[-1].position if events else query.after
    return FeedPage(events, cursor, held)
