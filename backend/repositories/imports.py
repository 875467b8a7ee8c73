"""Set-based upserts for importers: existing rows are kept, new ones are reported to the
audit buffer (one `create` entry each), and names map to ids in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.repositories.audit import AuditBuffer, AuditEntry, audit_buffer, jsonable

_TEAMS = text("""
    WITH wanted AS (SELECT DISTINCT unnest(CAST(:names AS text[])) AS name),
    created AS (
        INSERT INTO teams (name, league, country, created_by, updated_by, change_reason)
        SELECT name, :league, :country, :actor, :actor, :reason FROM wanted
        ON CONFLICT ((lower(name))) DO NOTHING
        RETURNING id, name
    )
    -- The CTE's new rows are not in this statement's snapshot of teams: take them from
    -- RETURNING, and the rows that were already there from the table.
    SELECT id, name, true AS created FROM created
    UNION ALL
    SELECT t.id, w.name, false FROM wanted w JOIN teams t ON lower(t.name) = lower(w.name)
""")
_BOOKMAKERS = text("""
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:names AS text[]), CAST(:sharp AS boolean[]))
                 AS w(name, is_sharp)
    ),
    created AS (
        INSERT INTO bookmakers (name, is_sharp, created_by, updated_by, change_reason)
        SELECT name, is_sharp, :actor, :actor, :reason FROM wanted
        ON CONFLICT ((lower(name))) DO NOTHING
        RETURNING id, name, is_sharp
    )
    SELECT id, name, true AS created, is_sharp FROM created
    UNION ALL
    SELECT b.id, w.name, false, b.is_sharp
      FROM wanted w JOIN bookmakers b ON lower(b.name) = lower(w.name)
""")
_MATCHES = text("""
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:home AS int[]), CAST(:away AS int[]),
                             CAST(:kickoff AS timestamptz[]), CAST(:home_score AS int[]),
                             CAST(:away_score AS int[]))
                 AS w(home, away, kickoff_at, home_score, away_score)
    ),
    created AS (
        INSERT INTO matches (league, season, home_team_id, away_team_id, kickoff_at, status,
                             home_score, away_score, created_by, updated_by, change_reason)
        SELECT :league, :season, home, away, kickoff_at, 'finished', home_score, away_score,
               :actor, :actor, :reason
          FROM wanted
        ON CONFLICT (home_team_id, away_team_id, kickoff_at) DO NOTHING
        RETURNING id, home_team_id, away_team_id, kickoff_at
    )
    SELECT id, home_team_id, away_team_id, kickoff_at FROM created
""")


class ImportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _audit(self) -> AuditBuffer:
        return audit_buffer(self.session)

    def _context(self) -> dict[str, Any]:
        ctx = self._audit().context
        return {"actor": ctx.actor, "reason": ctx.change_reason}

    def teams(
        self, names: Sequence[str], league: str | None, country: str | None
    ) -> dict[str, int]:
        rows = self.session.execute(
            _TEAMS, {"names": list(names), "league": league, "country": country, **self._context()}
        ).all()
        for row in rows:
            if row.created:
                self._audit().record(
                    AuditEntry.created(
                        "team",
                        str(row.id),
                        None,
                        {"id": row.id, "name": row.name, "league": league, "country": country},
                    )
                )
        return {row.name: row.id for row in rows}

    def bookmakers(self, books: Sequence[tuple[str, bool]]) -> dict[str, int]:
        rows = self.session.execute(
            _BOOKMAKERS,
            {"names": [b[0] for b in books], "sharp": [b[1] for b in books], **self._context()},
        ).all()
        for row in rows:
            if row.created:
                self._audit().record(
                    AuditEntry.created(
                        "bookmaker",
                        str(row.id),
                        None,
                        {"id": row.id, "name": row.name, "is_sharp": row.is_sharp},
                    )
                )
        return {row.name: row.id for row in rows}

    def finished_matches(
        self, league: str, season: str, rows: Sequence[tuple[int, int, datetime, int, int]]
    ) -> int:
        """Insert finished matches that are not there yet; returns how many were new."""
        columns = list(zip(*rows, strict=True))
        created = self.session.execute(
            _MATCHES,
            {
                "home": list(columns[0]),
                "away": list(columns[1]),
                "kickoff": list(columns[2]),
                "home_score": list(columns[3]),
                "away_score": list(columns[4]),
                "league": league,
                "season": season,
                **self._context(),
            },
        ).all()
        for row in created:
            self._audit().record(
                AuditEntry(
                    "create",
                    "match",
                    str(row.id),
                    None,
                    {
                        "id": [None, row.id],
                        "league": [None, league],
                        "season": [None, season],
                        "home_team_id": [None, row.home_team_id],
                        "away_team_id": [None, row.away_team_id],
                        "kickoff_at": [None, jsonable(row.kickoff_at)],
                        "status": [None, "finished"],
                    },
                )
            )
        return len(created)

    def match_ids(
        self, keys: Sequence[tuple[int, int, datetime]]
    ) -> dict[tuple[int, int, datetime], int]:
        columns = list(zip(*keys, strict=True))
        rows = self.session.execute(
            text("""
                SELECT m.id, m.home_team_id, m.away_team_id, m.kickoff_at
                  FROM matches m
                  JOIN unnest(CAST(:home AS int[]), CAST(:away AS int[]),
                              CAST(:kickoff AS timestamptz[])) AS k(home, away, kickoff_at)
                    ON m.home_team_id = k.home AND m.away_team_id = k.away
                   AND m.kickoff_at = k.kickoff_at
            """),
            {"home": list(columns[0]), "away": list(columns[1]), "kickoff": list(columns[2])},
        ).all()
        return {(r.home_team_id, r.away_team_id, r.kickoff_at): r.id for r in rows}
