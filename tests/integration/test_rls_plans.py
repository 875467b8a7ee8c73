"""Row-level security costs one reading of the tenant setting per statement, not per row.

The policies' `current_setting(...)` calls are scalar subqueries (InitPlans, migration 0008):
a plan that filtered each row by calling them again would spend half of an aggregate over a
strategy's bets in the policy (measured: 10.9 ms against 4.8 ms over 20,000 rows)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, text

TENANT_QUERIES = {
    "bets": "SELECT count(*), sum(stake) FROM bets WHERE strategy_id = :id",
    "strategies": "SELECT id FROM strategies ORDER BY created_at, id LIMIT 50",
    "audit_log": "SELECT id FROM audit_log ORDER BY id DESC LIMIT 50",
    "idempotency_keys": "SELECT key FROM idempotency_keys WHERE key = 'k'",
    "tenant_leaderboard": "SELECT strategy_id FROM tenant_leaderboard LIMIT 50",
}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("table", TENANT_QUERIES)
def test_tenant_policy_reads_its_settings_once_per_statement(
    connection: Connection, table: str
) -> None:
    connection.execute(
        text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(uuid.uuid4())}
    )
    found = connection.execute(
        text(f"EXPLAIN (FORMAT JSON) {TENANT_QUERIES[table]}"), {"id": uuid.uuid4()}
    ).scalar_one()
    plan = (found if isinstance(found, list) else json.loads(found))[0]["Plan"]
    scans = [n for n in _nodes(plan) if n.get("Relation Name")]
    assert scans, "the query reads the table"
    per_row = [
        (n["Node Type"], key, n[key])
        for n in scans
        for key in ("Filter", "Index Cond", "Recheck Cond")
        if "current_setting" in n.get(key, "")
    ]
    assert per_row == []  # the settings are InitPlans: `$0`, `$1` in the row filters
    assert any(
        "Subplan Name" in n or n.get("Parent Relationship") == "InitPlan" for n in _nodes(plan)
    )
