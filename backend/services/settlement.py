"""Results and cancellations: the match changes and every open bet on it settles, in one
transaction; the leaderboard is refreshed once that transaction has committed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from backend.core.errors import Conflict
from backend.models.reference import Match
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case

log = logging.getLogger("oddsdesk.settlement")


@dataclass(frozen=True)
class Settled:
    match: Match
    bets: int


def _conflict(code: str, detail: str, title: str) -> Conflict:
    return Conflict(code, detail, title=title)


@use_case
def post_result(uow: UnitOfWork, match_id: int, home: int, away: int) -> Settled:
    uow.settlement.close_market(match_id)  # first: see repositories.locks for the order
    match = uow.matches.get_one(match_id, options=uow.matches.with_teams, for_update=True)
    if match.status == "finished":
        if (match.home_score, match.away_score) == (home, away):
            return Settled(match, 0)  # the same result again: nothing to do
        raise _conflict(
            "result-conflict",
            f"match {match.id} already finished {match.home_score}-{match.away_score}",
            "Result conflict",
        )
    if match.status == "cancelled":
        raise _conflict("match-cancelled", f"match {match.id} was cancelled", "Match cancelled")
    if match.kickoff_at > datetime.now(UTC):
        raise _conflict(
            "match-not-started",
            f"match {match.id} kicks off at {match.kickoff_at.isoformat()}; no result before",
            "Match not started",
        )
    uow.matches.update(match, {"status": "finished", "home_score": home, "away_score": away})
    outcome = uow.settlement.settle(match.id, match.kickoff_at, home, away, uow.principal.actor)
    _refresh_after_commit(uow)
    uow.commit()
    return Settled(match, outcome.bets)


@use_case
def cancel(uow: UnitOfWork, match_id: int) -> Settled:
    uow.settlement.close_market(match_id)
    match = uow.matches.get_one(match_id, options=uow.matches.with_teams, for_update=True)
    if match.status == "cancelled":
        return Settled(match, 0)
    if match.status == "finished":
        raise _conflict(
            "match-finished",
            f"match {match.id} is finished; it cannot be cancelled",
            "Match finished",
        )
    uow.matches.update(match, {"status": "cancelled"})
    outcome = uow.settlement.void(match.id, uow.principal.actor)
    _refresh_after_commit(uow)
    uow.commit()
    return Settled(match, outcome.bets)


def _refresh_after_commit(uow: UnitOfWork) -> None:
    """CONCURRENTLY needs the settled rows committed; readers never wait for the refresh."""
    factory, caches = uow.session_factory, uow.caches

    def refresh() -> None:
        with factory() as session:
            session.execute(text("SELECT refresh_strategy_leaderboard()"))  # announces it too
            session.commit()
        if caches is not None:
            caches.invalidate("leaderboards")

    uow.on_commit(refresh)
