from __future__ import annotations

from backend.api.schemas.common import OutputModel, UtcDatetime
from backend.api.schemas.teams import TeamRead


class RecomputeRead(OutputModel):
    teams: int
    pairs: int


class ProfileRead(OutputModel):
    team: TeamRead
    matches: int
    goals_for_per_match: float
    goals_against_per_match: float
    win_rate: float
    draw_rate: float
    home_win_rate: float
    away_win_rate: float
    form: list[str]
    computed_at: UtcDatetime


class HeadToHeadRead(OutputModel):
    team_a: TeamRead
    team_b: TeamRead
    meetings: int
    team_a_wins: int
    draws: int
    team_b_wins: int
    goals_per_meeting: float
    last_meeting_at: UtcDatetime | None
