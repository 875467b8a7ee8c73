"""Repositories of the reference data: teams, bookmakers, matches."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import or_
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.interfaces import ORMOption

from backend.models.reference import Bookmaker, Match, Team
from backend.repositories.base import Repository


class TeamRepository(Repository[Team]):
    model_type: ClassVar[type[Any]] = Team
    entity_name = "team"
    cache_name = "teams"
    constraint_messages = {
        "uq_teams_lower_name": "a team with this name already exists",
        "fk_matches_home_team_id_teams": "the team still has matches",
        "fk_matches_away_team_id_teams": "the team still has matches",
    }


class BookmakerRepository(Repository[Bookmaker]):
    model_type: ClassVar[type[Any]] = Bookmaker
    entity_name = "bookmaker"
    cache_name = "bookmakers"
    constraint_messages = {
        "uq_bookmakers_lower_name": "a bookmaker with this name already exists",
    }


class MatchRepository(Repository[Match]):
    model_type: ClassVar[type[Any]] = Match
    entity_name = "match"
    constraint_messages = {
        "uq_matches_home_team_id_away_team_id_kickoff_at": (
            "a match between these teams at this kickoff already exists"
        ),
        "fk_matches_home_team_id_teams": "home_team_id names no team",
        "fk_matches_away_team_id_teams": "away_team_id names no team",
        "ck_matches_distinct_teams": "home and away team must differ",
    }

    # Both teams come in the same query as the match: one statement per page, any page size.
    with_teams: ClassVar[tuple[ORMOption, ...]] = (
        joinedload(Match.home_team, innerjoin=True),
        joinedload(Match.away_team, innerjoin=True),
    )

    @staticmethod
    def involving_team(team_id: int) -> Any:
        return or_(Match.home_team_id == team_id, Match.away_team_id == team_id)
