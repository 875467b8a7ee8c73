"""Derived team statistics: recompute, a team's profile, and two teams' head-to-head."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.core.cache import Caches, QueryCache
from backend.core.errors import InvalidInput, NotFound
from backend.core.ids import storable_id
from backend.models.reference import Team
from backend.repositories.analytics import ProfileRow, Recomputed
from backend.repositories.unit_of_work import UnitOfWork
from backend.services import crud
from backend.services.use_case import use_case


@use_case
def recompute(uow: UnitOfWork) -> Recomputed:
    """Every profile and every pair, rebuilt in one transaction."""
    result = uow.analytics.recompute()
    uow.invalidate_after_commit("team_profiles")  # other workers: the table's announcement
    uow.commit()
    return result


def team_profiles(caches: Caches) -> QueryCache[ProfileRow]:
    return caches.team_profiles


def cached_profile(uow: UnitOfWork, team_id: int) -> ProfileRow | None:
    """The profile `profile` would answer, if it is cached and may be served without I/O."""
    return crud.cached(uow, team_profiles, team_id)


@use_case
def profile(uow: UnitOfWork, team_id: int) -> ProfileRow:
    """The team and its profile in one statement (cached until the next recompute or a
    change of the team); 404 for no team, and for a team no recompute has seen yet."""

    def load() -> ProfileRow:
        found = uow.analytics.profile(team_id) if storable_id(team_id) else None
        if found is None or found.profile is None:
            raise NotFound("profile of team", team_id)
        return found

    if uow.caches is None:
        return load()
    found: ProfileRow = uow.caches.team_profiles.get_or_load(team_id, load)
    return found


@dataclass(frozen=True)
class HeadToHeadView:
    team_a: Team
    team_b: Team
    meetings: int
    team_a_wins: int
    draws: int
    team_b_wins: int
    goals: int
    last_meeting_at: datetime | None


@use_case
def head_to_head(uow: UnitOfWork, team_a: int, team_b: int) -> HeadToHeadView:
    if team_a == team_b:
        raise InvalidInput("team_a and team_b must differ", loc=("query", "team_b"))
    a, b = uow.teams.get_one(team_a), uow.teams.get_one(team_b)
    row = uow.analytics.pair(a.id, b.id)
    if row is None:
        return HeadToHeadView(a, b, 0, 0, 0, 0, 0, None)
    a_wins, b_wins = (
        (row.team_a_wins, row.team_b_wins) if a.id < b.id else (row.team_b_wins, row.team_a_wins)
    )
    return HeadToHeadView(
        a, b, row.meetings, a_wins, row.draws, b_wins, row.goals, row.last_meeting_at
    )
