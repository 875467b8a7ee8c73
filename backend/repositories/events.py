"""Reading the event feed: a tenant's events and the reference events, in a stable order.

The order is (txid, id) and a page only holds events of transactions older than every one
still running (`pg_snapshot_xmin` of the reading statement): ids are given out before commit
and transactions commit in another order, but no transaction below that horizon can still
add an event, so a reader that resumes after its last event never misses one that committed
later. Row-level security keeps another tenant's events out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.repositories.sql import SqlRepository

_PAGE = """
    WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
    SELECT e.txid, e.id, e.type, e.entity_type, e.entity_id, e.tenant_id, e.occurred_at,
           e.payload, e.request_id
      FROM events e, horizon h
     WHERE e.txid < h.xmin
       AND (e.txid, e.id) > (%(txid)s, %(id)s)
       AND (%(types)s::text[] IS NULL OR e.type = ANY (%(types)s::text[]))
     ORDER BY e.txid, e.id
     LIMIT %(limit)s
"""
# Whether events after the position exist that the horizon still holds back (an older
# transaction is open): the reader then reads again shortly instead of waiting for a NOTIFY
# that was already sent.
_HELD_BACK = """
    SELECT EXISTS (
        SELECT 1 FROM events e
         WHERE (e.txid, e.id) > (%(txid)s, %(id)s)
           AND e.txid >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint
           AND (%(types)s::text[] IS NULL OR e.type = ANY (%(types)s::text[])))
"""


@dataclass(frozen=True)
class Position:
    txid: int
    id: int

    def __str__(self) -> str:
        return f"{self.txid}-{self.id}"


START = Position(0, 0)


@dataclass(frozen=True)
class EventRow:
    position: Position
    type: str
    entity_type: str
    entity_id: str
    tenant_id: Any
    occurred_at: datetime
    payload: dict[str, Any]
    request_id: str | None


class EventRepository(SqlRepository):
    def after(
        self, position: Position, types: list[str] | None, limit: int
    ) -> tuple[list[EventRow], bool]:
        """Up to `limit` events after `position`, and whether more are held back."""
        params = {"txid": position.txid, "id": position.id, "types": types, "limit": limit}
        rows = self._raw(_PAGE, params).fetchall()
        events = [EventRow(Position(r[0], r[1]), *r[2:]) for r in rows]
        held = False
        if not events:
            held = bool(self._raw(_HELD_BACK, params).fetchone()[0])
        return events, held
