"""Team profiles and head-to-head records, rebuilt from finished matches by set-based SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Select, bindparam, select, text

from backend.models.analytics import HeadToHead, TeamProfile
from backend.models.reference import Team
from backend.repositories.reference import TEAM_FIELDS
from backend.repositories.sql import SqlRepository

_RESULTS = """
    results AS (
        SELECT home_team_id AS team_id, kickoff_at, home_score AS gf, away_score AS ga,
               true AS at_home
          FROM matches WHERE status = 'finished'
        UNION ALL
        SELECT away_team_id, kickoff_at, away_score, home_score, false
          FROM matches WHERE status = 'finished'
    )"""
_PROFILES = text(f"""
    WITH {_RESULTS},
    totals AS (
        SELECT team_id, count(*) AS matches, sum(gf) AS goals_for, sum(ga) AS goals_against,
               count(*) FILTER (WHERE gf > ga) AS wins,
               count(*) FILTER (WHERE gf = ga) AS draws,
               count(*) FILTER (WHERE gf < ga) AS losses,
               count(*) FILTER (WHERE at_home) AS home_matches,
               count(*) FILTER (WHERE at_home AND gf > ga) AS home_wins,
               count(*) FILTER (WHERE NOT at_home) AS away_matches,
               count(*) FILTER (WHERE NOT at_home AND gf > ga) AS away_wins
          FROM results GROUP BY team_id
    ),
    recent AS (
        SELECT team_id, kickoff_at,
               CASE WHEN gf > ga THEN 'W' WHEN gf = ga THEN 'D' ELSE 'L' END AS outcome,
               row_number() OVER (PARTITION BY team_id ORDER BY kickoff_at DESC) AS age
          FROM results
    ),
    form AS (
        SELECT team_id, string_agg(outcome, '' ORDER BY kickoff_at) AS form
          FROM recent WHERE age <= 5 GROUP BY team_id
    ),
    upserted AS (
        INSERT INTO analytics.team_profiles AS p
               (team_id, matches, goals_for, goals_against, wins, draws, losses, home_matches,
                home_wins, away_matches, away_wins, form, computed_at)
        SELECT t.team_id, t.matches, t.goals_for, t.goals_against, t.wins, t.draws, t.losses,
               t.home_matches, t.home_wins, t.away_matches, t.away_wins, f.form, now()
          FROM totals t JOIN form f USING (team_id)
        ON CONFLICT (team_id) DO UPDATE SET
               matches = excluded.matches, goals_for = excluded.goals_for,
               goals_against = excluded.goals_against, wins = excluded.wins,
               draws = excluded.draws, losses = excluded.losses,
               home_matches = excluded.home_matches, home_wins = excluded.home_wins,
               away_matches = excluded.away_matches, away_wins = excluded.away_wins,
               form = excluded.form, computed_at = excluded.computed_at
        RETURNING team_id
    ),
    removed AS (
        DELETE FROM analytics.team_profiles
         WHERE team_id NOT IN (SELECT team_id FROM totals)
    )
    SELECT count(*) FROM upserted
""")
_PAIRS = text("""
    WITH pairs AS (
        SELECT least(home_team_id, away_team_id) AS a, greatest(home_team_id, away_team_id) AS b,
               count(*) AS meetings,
               count(*) FILTER (WHERE (home_team_id < away_team_id AND home_score > away_score)
                                   OR (away_team_id < home_team_id AND away_score > home_score))
                 AS a_wins,
               count(*) FILTER (WHERE home_score = away_score) AS draws,
               count(*) FILTER (WHERE (home_team_id > away_team_id AND home_score > away_score)
                                   OR (away_team_id > home_team_id AND away_score > home_score))
                 AS b_wins,
               sum(home_score + away_score) AS goals,
               max(kickoff_at) AS last_meeting_at
          FROM matches WHERE status = 'finished'
         GROUP BY 1, 2
    ),
    upserted AS (
        INSERT INTO analytics.head_to_head AS h
               (team_a_id, team_b_id, meetings, team_a_wins, draws, team_b_wins, goals,
                last_meeting_at, computed_at)
        SELECT a, b, meetings, a_wins, draws, b_wins, goals, last_meeting_at, now() FROM pairs
        ON CONFLICT (team_a_id, team_b_id) DO UPDATE SET
               meetings = excluded.meetings, team_a_wins = excluded.team_a_wins,
               draws = excluded.draws, team_b_wins = excluded.team_b_wins,
               goals = excluded.goals, last_meeting_at = excluded.last_meeting_at,
               computed_at = excluded.computed_at
        RETURNING 1
    ),
    removed AS (
        DELETE FROM analytics.head_to_head h
         WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.a = h.team_a_id AND p.b = h.team_b_id)
    )
    SELECT count(*) FROM upserted
""")


@dataclass(frozen=True)
class Recomputed:
    teams: int
    pairs: int


PROFILE_FIELDS = (
    "matches", "goals_for", "goals_against", "wins", "draws", "home_matches", "home_wins",
    "away_matches", "away_wins", "form", "computed_at",
)  # fmt: skip


@dataclass(frozen=True)
class ProfileRow:
    """A team's columns and its profile's (None before the first recompute that saw it)."""

    team: dict[str, Any]
    profile: dict[str, Any] | None


class AnalyticsRepository(SqlRepository):
    # The team and its profile in one statement (a LEFT JOIN tells "no team" from "no
    # profile yet"), built once.
    _profile: ClassVar[Select[Any] | None] = None

    def recompute(self) -> Recomputed:
        teams = self.session.execute(_PROFILES).scalar_one()
        pairs = self.session.execute(_PAIRS).scalar_one()
        return Recomputed(teams=teams, pairs=pairs)

    def profile(self, team_id: int) -> ProfileRow | None:
        """None: no such team."""
        stmt = AnalyticsRepository._profile
        if stmt is None:
            stmt = (
                select(
                    *(getattr(Team, f) for f in TEAM_FIELDS),
                    TeamProfile.team_id.label("profiled"),
                    *(getattr(TeamProfile, f) for f in PROFILE_FIELDS),
                )
                .select_from(Team)
                .outerjoin(TeamProfile, TeamProfile.team_id == Team.id)
                .where(Team.id == bindparam("team_id"))
            )
            AnalyticsRepository._profile = stmt
        row = self.connection().execute(stmt, {"team_id": team_id}).one_or_none()
        if row is None:
            return None
        team = dict(zip(TEAM_FIELDS, row, strict=False))
        rest = row[len(TEAM_FIELDS) :]
        profile = None if rest[0] is None else dict(zip(PROFILE_FIELDS, rest[1:], strict=True))
        return ProfileRow(team, profile)

    def pair(self, team_a: int, team_b: int) -> HeadToHead | None:
        low, high = sorted((team_a, team_b))
        return self.session.get(HeadToHead, (low, high))
