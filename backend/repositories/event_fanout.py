"""The events' fan-out into webhook deliveries: one statement per batch that reads the next
events after the dispatch cursor, creates one delivery per matching active endpoint and one
`webhook.deliver` job per delivery (an endpoint gets the events that occurred since it was
registered), and moves the cursor, all in one transaction (so each
event is fanned out exactly once, whoever crashes when).

Read order: events are taken in (txid, id) order and only from transactions older than every
running one (`pg_snapshot_xmin`), so no event can commit later behind the cursor. The cursor
row is locked with SKIP LOCKED: with several workers, one fans out at a time and the others
skip the round. Needs an RLS-bypassing (system) unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from backend.repositories.sql import SqlRepository

DELIVER = "webhook.deliver"

_FAN_OUT = text("""
    WITH pos AS (
        SELECT txid, event_id FROM event_dispatch_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED
    ), batch AS (
        SELECT e.id, e.txid, e.tenant_id, e.type, e.occurred_at
          FROM events e, pos
         WHERE (e.txid, e.id) > (pos.txid, pos.event_id)
           AND e.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
         ORDER BY e.txid, e.id
         LIMIT :n
    ), made AS (
        INSERT INTO webhook_deliveries
               (id, tenant_id, endpoint_id, event_id, event_type, next_attempt_at)
        SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), w.tenant_id, w.id, b.id,
               b.type, now()
          FROM batch b
          JOIN webhook_endpoints w
            ON w.status = 'active'
           AND (b.tenant_id IS NULL OR w.tenant_id = b.tenant_id)
           AND (cardinality(w.event_types) = 0 OR b.type = ANY(w.event_types))
           -- An endpoint gets what happened since it was registered, never the history.
           AND b.occurred_at >= w.created_at
        ON CONFLICT (endpoint_id, event_id) DO NOTHING
     RETURNING id
    ), queued AS (
        INSERT INTO jobs (kind, payload, max_attempts, unique_key)
        SELECT :kind, jsonb_build_object('delivery_id', id), :max_attempts, :kind || ':' || id
          FROM made
        ON CONFLICT (unique_key) WHERE status = 'queued' OR status = 'running' DO NOTHING
     RETURNING id
    ), last AS (
        SELECT txid, id FROM batch ORDER BY txid DESC, id DESC LIMIT 1
    ), moved AS (
        UPDATE event_dispatch_cursor c
           SET txid = last.txid, event_id = last.id, updated_at = now()
          FROM last
         WHERE c.id = 1
     RETURNING c.txid
    )
    SELECT (SELECT count(*) FROM batch) AS events,
           (SELECT count(*) FROM made) AS deliveries,
           (SELECT count(*) FROM queued) AS jobs
""")


@dataclass(frozen=True)
class FanOut:
    events: int
    deliveries: int
    jobs: int


class EventFanOutRepository(SqlRepository):
    def fan_out(self, batch: int, max_attempts: int) -> FanOut:
        params = {"n": batch, "kind": DELIVER, "max_attempts": max_attempts}
        row = self.connection().execute(_FAN_OUT, params).one()
        return FanOut(events=row.events, deliveries=row.deliveries, jobs=row.jobs)
