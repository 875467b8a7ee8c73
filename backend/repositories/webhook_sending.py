"""What the worker reads to send one delivery, and how it records each attempt: the attempt
row, the delivery's state and the endpoint's failure count (disabled past the limit). System
work (RLS bypassed): a delivery is found by its id alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from backend.repositories.sql import SqlRepository

_LOAD = text("""
    SELECT d.id, d.tenant_id, d.status, w.url, w.secret, w.status AS endpoint_status,
           e.id AS event_id, e.type, e.entity_type, e.entity_id, e.payload, e.occurred_at
      FROM webhook_deliveries d
      JOIN webhook_endpoints w ON w.tenant_id = d.tenant_id AND w.id = d.endpoint_id
      JOIN events e ON e.id = d.event_id
     WHERE d.id = :id
""")

_ATTEMPT = text("""
    INSERT INTO webhook_attempts (tenant_id, delivery_id, status_code, error, duration_ms)
    SELECT tenant_id, id, :code, :error, :duration_ms FROM webhook_deliveries WHERE id = :id
""")

_DELIVERY = text("""
    UPDATE webhook_deliveries
       SET status = :status, attempts = attempts + 1, last_status_code = :code,
           last_error = :error,
           next_attempt_at = CASE WHEN :status = 'failed'
                                  THEN now() + make_interval(secs => :delay_s) END,
           delivered_at = CASE WHEN :status = 'succeeded' THEN now() ELSE delivered_at END
     WHERE id = :id
 RETURNING endpoint_id
""")

_SUCCEEDED = text("""
    UPDATE webhook_endpoints SET consecutive_failures = 0
     WHERE id = :endpoint AND consecutive_failures <> 0
""")

# A failed attempt counts against its endpoint; at the limit the endpoint is disabled (its
# version moves, as any change of its state does).
_FAILED = text("""
    UPDATE webhook_endpoints
       SET consecutive_failures = consecutive_failures + 1,
           status = CASE WHEN consecutive_failures + 1 >= :limit THEN 'disabled' ELSE status END,
           disabled_reason = CASE WHEN status = 'active' AND consecutive_failures + 1 >= :limit
                                  THEN :reason ELSE disabled_reason END,
           version = CASE WHEN status = 'active' AND consecutive_failures + 1 >= :limit
                          THEN version + 1 ELSE version END,
           updated_at = CASE WHEN status = 'active' AND consecutive_failures + 1 >= :limit
                             THEN statement_timestamp() ELSE updated_at END
     WHERE id = :endpoint
""")

_GIVE_UP = text("""
    UPDATE webhook_deliveries
       SET status = 'dead', last_error = :error, next_attempt_at = NULL
     WHERE id = :id AND status <> 'succeeded'
""")


@dataclass(frozen=True)
class Outgoing:
    """One delivery as it is sent."""

    id: str
    status: str
    url: str
    secret: str
    endpoint_status: str
    event_id: int
    type: str
    entity_type: str
    entity_id: str
    payload: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSendingRepository(SqlRepository):
    def load(self, delivery_id: str) -> Outgoing | None:
        row = self.connection().execute(_LOAD, {"id": delivery_id}).mappings().first()
        if row is None:
            return None
        return Outgoing(**{k: v for k, v in row.items() if k != "tenant_id"})

    def record(
        self,
        delivery_id: str,
        result: AttemptResult,
        *,
        status: str,
        delay_s: float,
        disable_after: int,
    ) -> None:
        """The attempt, the delivery's new `status` (`failed` retries after `delay_s`), and
        the endpoint's count of failures in a row."""
        conn = self.connection()
        base = {"id": delivery_id, "code": result.status_code, "error": result.error}
        conn.execute(_ATTEMPT, {**base, "duration_ms": result.duration_ms})
        endpoint = conn.execute(_DELIVERY, {**base, "status": status, "delay_s": delay_s}).scalar()
        if endpoint is None:
            return
        if result.succeeded:
            conn.execute(_SUCCEEDED, {"endpoint": endpoint})
            return
        reason = f"{disable_after} failed deliveries in a row (last: {result.error})"
        conn.execute(
            _FAILED, {"endpoint": endpoint, "limit": disable_after, "reason": reason[:500]}
        )

    def give_up(self, delivery_id: str, error: str) -> None:
        """Dead without an attempt (its endpoint was disabled meanwhile)."""
        self.connection().execute(_GIVE_UP, {"id": delivery_id, "error": error})
