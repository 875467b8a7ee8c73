"""Repositories of the reference data: teams, bookmakers, matches."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Row, or_
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.orm.interfaces import ORMOption

from backend.models.reference import Bookmaker, Match, Team
from backend.repositories.base import Repository
from backend.repositories.pages import View

_Home = aliased(Team, name="home")
_Away = aliased(Team, name="away")


def _match_row(row: Row[Any]) -> dict[str, Any]:
    (id_, league, season, kickoff_at, status, home_score, away_score, created_at, updated_at,
     version, home_id, home_name, away_id, away_name) = row  # fmt: skip
    return {
        "id": id_,
        "league": league,
        "season": season,
        "home_team": {"id": home_id, "name": home_name},
        "away_team": {"id": away_id, "name": away_name},
        "kickoff_at": kickoff_at,
        "status": status,
        "home_score": home_score,
        "away_score": away_score,
        "created_at": created_at,
        "updated_at": updated_at,
        "version": version,
    }


# A team as the API shows it (TeamRead), in its order: in lists and in team profiles.
TEAM_FIELDS = (
    "id",
    "name",
    "country",
    "league",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "version",
)


class TeamRepository(Repository[Team]):
    model_type: ClassVar[type[Any]] = Team
    entity_name = "team"
    cache_name = "teams"
    list_view = View.of(Team, TEAM_FIELDS)
    constraint_messages = {
        "uq_teams_lower_name": "a team with this name already exists",
        "fk_matches_home_team_id_teams": "the team still has matches",
        "fk_matches_away_team_id_teams": "the team still has matches",
    }


class BookmakerRepository(Repository[Bookmaker]):
    model_type: ClassVar[type[Any]] = Bookmaker
    entity_name = "bookmaker"
    cache_name = "bookmakers"
    list_view = View.of(
        Bookmaker,
        ("id", "name", "is_sharp", "created_at", "updated_at", "version"),
    )
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

    # Lists read columns, not entities: a match with both teams' ids and names, in one statement.
    view: ClassVar[View] = View(
        columns=(
            Match.id,
            Match.league,
            Match.season,
            Match.kickoff_at,
            Match.status,
            Match.home_score,
            Match.away_score,
            Match.created_at,
            Match.updated_at,
            Match.version,
            _Home.id.label("home_id"),
            _Home.name.label("home_name"),
            _Away.id.label("away_id"),
            _Away.name.label("away_name"),
        ),
        joins=((_Home, _Home.id == Match.home_team_id), (_Away, _Away.id == Match.away_team_id)),
        build=_match_row,
    )

    @staticmethod
    def involving_team(team_id: int) -> Any:
        return or_(Match.home_team_id == team_id, Match.away_team_id == team_id)
