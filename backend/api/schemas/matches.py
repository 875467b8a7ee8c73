from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from backend.api.schemas.common import (
    InputModel,
    Name,
    OutputModel,
    PatchModel,
    RefId,
    SchemaExtra,
    Timestamp,
    UtcDatetime,
)
from backend.api.schemas.teams import TeamRef

MatchStatus = Literal["scheduled", "finished", "cancelled"]
# ASCII digits only, the whole string (`\d` would take other scripts' digits, `$` a newline).
SEASON_PATTERN = r"^[0-9]{4}-[0-9]{2}$"
_SEASON = re.compile(r"([0-9]{4})-([0-9]{2})")


def _season(value: str) -> str:
    match = _SEASON.fullmatch(value)
    if match is None or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise ValueError('season must be "YYYY-YY" with the second year following the first')
    return value


# The schema gives the shape; that the second year follows the first is the validator's alone.
Season = Annotated[
    str,
    AfterValidator(_season),
    SchemaExtra(
        pattern=SEASON_PATTERN,
        description='"YYYY-YY", the second year following the first (e.g. "2025-26")',
    ),
]


class MatchCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "league": "Premier League",
                    "season": "2025-26",
                    "home_team_id": 1,
                    "away_team_id": 2,
                    "kickoff_at": "2026-08-15T14:00:00Z",
                }
            ]
        },
    )

    league: Name
    season: Season
    home_team_id: RefId
    away_team_id: RefId
    kickoff_at: Timestamp

    @model_validator(mode="after")
    def _distinct_teams(self) -> Self:
        if self.home_team_id == self.away_team_id:
            raise ValueError("home_team_id and away_team_id must differ")
        return self


class MatchUpdate(PatchModel):
    """Fixture details that may change before kickoff (a rescheduled match)."""

    non_nullable = frozenset({"league", "season", "kickoff_at"})

    league: Name | None = None
    season: Season | None = None
    kickoff_at: Timestamp | None = None


class MatchRead(OutputModel):
    id: int
    league: str
    season: str
    home_team: TeamRef
    away_team: TeamRef
    kickoff_at: UtcDatetime
    status: MatchStatus
    home_score: int | None
    away_score: int | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int


Score = Annotated[int, Field(strict=True, ge=0, le=99)]


class ResultBody(InputModel):
    home_score: Score
    away_score: Score


class ResultRead(OutputModel):
    match: MatchRead
    settled_bets: int


class CancelRead(OutputModel):
    match: MatchRead
    voided_bets: int
