"""Odds snapshots: bulk ingestion through COPY, and the three price reads, one statement each."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import text

from backend.core.ids import storable_id
from backend.core.prepared import PreparedSQL
from backend.core.timestamps import TIMESTAMP_RE
from backend.models.odds import OddsSnapshot
from backend.repositories.audit import audit_buffer
from backend.repositories.base import Repository
from backend.repositories.outbox import OutboxEvent
from backend.repositories.pages import View

COLUMNS = ("match_id", "bookmaker_id", "market", "selection", "price", "captured_at")
OPTIONAL_COLUMNS = ("line",)  # ah / ou only; absent or empty: none

_CREATE_STAGE = """
    CREATE TEMP TABLE odds_in (
        row_no bigint GENERATED ALWAYS AS IDENTITY,
        match_id text, bookmaker_id text, market text, selection text, price text,
        captured_at text, line text
    ) ON COMMIT DROP
"""
# One pass over the staged rows: the first bad field of each bad row, in row order. CASE
# evaluates in order, so a cast only runs on text its pattern already accepted.
_FIND_INVALID = text(r"""
    SELECT row_no, field FROM (
        SELECT i.row_no,
               CASE
                 WHEN i.match_id IS NULL OR i.match_id !~ '^[0-9]{1,10}$'
                      OR i.match_id::numeric NOT BETWEEN 1 AND 2147483647 THEN 'match_id'
                 WHEN i.bookmaker_id IS NULL OR i.bookmaker_id !~ '^[0-9]{1,10}$'
                      OR i.bookmaker_id::numeric NOT BETWEEN 1 AND 2147483647
                   THEN 'bookmaker_id'
                 WHEN i.market IS NULL OR i.market NOT IN ('1x2', 'ou2.5', 'ah', 'ou')
                   THEN 'market'
                 WHEN i.selection IS NULL
                      OR (i.market = '1x2' AND i.selection NOT IN ('home', 'draw', 'away'))
                      OR (i.market IN ('ou2.5', 'ou') AND i.selection NOT IN ('over', 'under'))
                      OR (i.market = 'ah' AND i.selection NOT IN ('home', 'away'))
                   THEN 'selection'
                 WHEN (i.market IN ('ah', 'ou')) <> (i.line IS NOT NULL)
                      OR i.line !~ '^-?[0-9]{1,2}(\.[0-9]+)?$' THEN 'line'
                 WHEN i.line IS NOT NULL AND (i.line::numeric % 0.25 <> 0
                      OR (i.market = 'ah' AND i.line::numeric NOT BETWEEN -10 AND 10)
                      OR (i.market = 'ou' AND (i.line::numeric NOT BETWEEN 0.25 AND 20
                                               OR i.line::numeric = 2.5)))
                   THEN 'line'
                 WHEN i.price IS NULL OR i.price !~ '^[0-9]{1,7}(\.[0-9]+)?$'
                      OR i.price::numeric <> round(i.price::numeric, 3)
                      OR i.price::numeric NOT BETWEEN 1.001 AND 1000 THEN 'price'
                 WHEN i.captured_at IS NULL OR i.captured_at !~* :timestamp_re
                   THEN 'captured_at'
               END AS field
          FROM odds_in i
    ) checked
     WHERE field IS NOT NULL
     ORDER BY row_no
     LIMIT 20
""")
_FIND_BAD_REFERENCES = text("""
    SELECT i.row_no,
           CASE WHEN m.id IS NULL THEN 'match_id' WHEN b.id IS NULL THEN 'bookmaker_id'
                ELSE 'captured_at' END AS field
      FROM odds_in i
      LEFT JOIN matches m ON m.id = i.match_id::int
      LEFT JOIN bookmakers b ON b.id = i.bookmaker_id::int
     WHERE m.id IS NULL OR b.id IS NULL
        OR i.captured_at::timestamptz > now() + interval '5 minutes'
     ORDER BY i.row_no
     LIMIT 20
""")
# The partitions of the staged rows' years (odds_snapshots is partitioned by UTC year, see
# core/history.py): made if missing, before the rows go in.
_ENSURE_PARTITIONS = text("""
    SELECT coalesce(sum(oddsdesk_ensure_partitions('odds_snapshots', y, y)), 0)
      FROM (SELECT DISTINCT date_trunc('year', captured_at::timestamptz, 'UTC') AS y
              FROM odds_in) AS years
""")
_INSERT = text("""
    WITH inserted AS (
    INSERT INTO odds_snapshots (match_id, bookmaker_id, market, selection, line, price,
                                captured_at)
    SELECT match_id::int, bookmaker_id::int, market, selection, line::numeric, price::numeric,
           captured_at::timestamptz
      FROM odds_in ORDER BY row_no
    ON CONFLICT ON CONSTRAINT uq_odds_snapshots_natural_key DO NOTHING
    RETURNING match_id
    )
    SELECT count(*) AS inserted,
           coalesce(array_agg(DISTINCT match_id ORDER BY match_id), '{}') AS matches
      FROM inserted
""")
# One statement answers both "does the match exist?" and "its latest prices as of `at`"
# (kickoff when `at` is null: the closing line).
LATEST_SQL = PreparedSQL(
    "oddsdesk_latest_odds",
    """
    SELECT m.id AS found, s.id, s.match_id, s.bookmaker_id, s.market, s.selection, s.line,
           s.price, s.captured_at
      FROM matches m
      LEFT JOIN LATERAL (
          SELECT DISTINCT ON (o.bookmaker_id, o.market, o.selection, o.line) o.*
            FROM odds_snapshots o
           WHERE o.match_id = m.id
             AND o.captured_at <= coalesce(CAST(%(at)s AS timestamptz), m.kickoff_at)
           ORDER BY o.bookmaker_id, o.market, o.selection, o.line, o.captured_at DESC
      ) s ON true
     WHERE m.id = %(match)s
     ORDER BY s.bookmaker_id, s.market, s.selection, s.line
""",
    generic=True,
)


@dataclass(frozen=True)
class BadRow:
    row_no: int  # 1-based position among the data rows
    field: str


SNAPSHOT_FIELDS = (
    "id",
    "match_id",
    "bookmaker_id",
    "market",
    "selection",
    "line",
    "price",
    "captured_at",
)


class OddsRepository(Repository[OddsSnapshot]):
    model_type: ClassVar[type[Any]] = OddsSnapshot
    row_key = "id"  # the primary key also holds the partition key
    list_view = View.of(OddsSnapshot, SNAPSHOT_FIELDS)
    entity_name = "odds snapshot"

    def stage(self, csv_rows: bytes | str, columns: Sequence[str] = COLUMNS) -> None:
        """COPY CSV data rows (no header) into this transaction's staging table."""
        stream = io.BytesIO(csv_rows.encode() if isinstance(csv_rows, str) else csv_rows)
        # Through raw_execute: the transaction's preamble rides along with the CREATE, then
        # COPY runs on the same cursor.
        cur: Any = self._raw(_CREATE_STAGE, {})
        try:
            cur.copy_expert(
                f"COPY odds_in ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", stream
            )
        finally:
            cur.close()

    def invalid_rows(self) -> list[BadRow]:
        found = self.session.execute(_FIND_INVALID, {"timestamp_re": TIMESTAMP_RE})
        bad = [BadRow(r.row_no, r.field) for r in found]
        if bad:
            return bad
        return [BadRow(r.row_no, r.field) for r in self.session.execute(_FIND_BAD_REFERENCES)]

    def insert_staged(self) -> int:
        """Insert every staged row not already stored; returns how many were new. New rows
        announce an `odds.ingested` event (a reference event: every tenant sees it) naming
        how many and the matches they are of."""
        self.session.execute(_ENSURE_PARTITIONS)
        inserted, matches = self.session.execute(_INSERT).one()
        if inserted:
            audit_buffer(self.session).announce(
                OutboxEvent(
                    "odds.ingested",
                    "odds_batch",
                    uuid.uuid4().hex,
                    None,
                    {"inserted": inserted, "match_ids": list(matches)},
                )
            )
        return int(inserted)

    def latest(self, match_id: int, at: datetime | None) -> list[dict[str, Any]] | None:
        """The latest snapshot per (bookmaker, market, selection, line) captured at or before `at`
        (the kickoff when None), as read-model rows; None when the match does not exist."""
        if not storable_id(match_id):
            return None
        rows = self._raw(LATEST_SQL, {"match": match_id, "at": at}).fetchall()
        if not rows:
            return None
        keys = SNAPSHOT_FIELDS
        return [dict(zip(keys, r[1:], strict=True)) for r in rows if r[1] is not None]
