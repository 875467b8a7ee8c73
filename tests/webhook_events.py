"""Events inserted the way the outbox writes them, but directly with SQL (superuser: row-level
security bypassed), so the webhook tests do not depend on which service writes which event."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, text

_INSERT = text("""
    INSERT INTO events (tenant_id, type, entity_type, entity_id, payload)
    SELECT CAST(:tenant AS uuid), :type, 'bet', 'bet-' || n, jsonb_build_object('n', n) || :extra
      FROM generate_series(1, :count) AS n
 RETURNING id
""")


def insert_events(
    engine: Engine,
    tenant_id: str | None,
    count: int = 1,
    type_: str = "bet.placed",
    extra: dict[str, Any] | None = None,
) -> list[int]:
    with engine.begin() as conn:
        params = {
            "tenant": tenant_id,
            "type": type_,
            "count": count,
            "extra": json.dumps(extra or {}),
        }
        return [row.id for row in conn.execute(_INSERT, params)]
