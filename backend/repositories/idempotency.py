"""Idempotency records of one tenant: a placed bet's answer, stored with its COMMIT, and
the purge of expired records."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import text

from backend.core.plain_sql import stage
from backend.core.prepared import PreparedSQL
from backend.models.trading import IdempotencyKey
from backend.repositories.tenant import TenantRepository

# The answer is recorded with the transaction's COMMIT (staged: nobody reads a result). An
# expired record still under the key (the purge has not run yet) is deleted first; a live one
# cannot exist while this transaction holds the key's lock (the debit checked there was none),
# and if it did, the INSERT's unique violation would fail the whole transaction (no bet, no
# debit) rather than pay twice.
_DROP_EXPIRED_ANSWER = PreparedSQL(
    "oddsdesk_idempotency_drop_expired",
    """
    DELETE FROM idempotency_keys
     WHERE tenant_id = %(tenant)s AND key = %(key)s AND expires_at <= now()
""",
)
_RECORD_ANSWER = PreparedSQL(
    "oddsdesk_idempotency_record",
    """
    INSERT INTO idempotency_keys
           (tenant_id, key, fingerprint, status_code, response_body, created_at, expires_at)
    VALUES (%(tenant)s, %(key)s, %(fingerprint)s, %(status)s, %(body)s, now(),
            now() + interval '24 hours')
""",
)


class IdempotencyRepository(TenantRepository[IdempotencyKey]):
    model_type: ClassVar[type[Any]] = IdempotencyKey
    entity_name = "idempotency key"

    def record(self, key: str, fingerprint: str, status_code: int, body: str) -> None:
        """Record the answer under the key, replacing an expired one, with the transaction's
        COMMIT (both statements in its round trip)."""
        conn = self.connection()
        params = {
            "tenant": str(self.tenant_id),
            "key": key,
            "fingerprint": fingerprint,
            "status": status_code,
            "body": body,
        }
        stage(conn, _DROP_EXPIRED_ANSWER, params)
        stage(conn, _RECORD_ANSWER, params)


def purge_expired(session: Any) -> int:
    """Delete expired idempotency records of every tenant (needs an RLS-bypassing unit)."""
    result = session.execute(text("DELETE FROM idempotency_keys WHERE expires_at <= now()"))
    return int(result.rowcount or 0)
