"""Reference-data rules beyond plain CRUD: what may change on a match, and when."""

from __future__ import annotations

from backend.core.errors import Conflict
from backend.models.reference import Match
from backend.repositories.reference import BookmakerRepository, MatchRepository, TeamRepository
from backend.repositories.unit_of_work import UnitOfWork


def teams(uow: UnitOfWork) -> TeamRepository:
    return uow.teams


def bookmakers(uow: UnitOfWork) -> BookmakerRepository:
    return uow.bookmakers


def matches(uow: UnitOfWork) -> MatchRepository:
    return uow.matches


def ensure_scheduled(match: Match) -> None:
    """Fixture details change only before a match is decided."""
    if match.status != "scheduled":
        raise Conflict(
            f"match-{match.status}",
            f"match {match.id} is {match.status}; only scheduled matches can change",
            title=f"Match {match.status}",
        )


def ensure_not_finished(match: Match) -> None:
    if match.status == "finished":
        raise Conflict(
            "match-finished",
            f"match {match.id} is finished; its result is history and cannot be deleted",
            title="Match finished",
        )
