"""row-level security predicates evaluated once per statement

The tenant policies compared each row with `current_setting(...)` calls and a text-to-uuid
cast, which PostgreSQL evaluated again for every row a query visited (an aggregate over one
strategy's 20,000 bets spent half its time there). Written as scalar subqueries, the settings
are read once per statement (InitPlans) and each row is compared with a value; what the
policies allow is unchanged. The tenant view over the leaderboard gets the same form.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:10:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("strategies", "bets", "idempotency_keys", "audit_log")
TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
BYPASS = "current_setting('app.bypass_rls', true) = 'on'"
PER_ROW = f"{BYPASS} OR tenant_id = {TENANT}"
ONCE = f"(SELECT {BYPASS}) OR tenant_id = (SELECT {TENANT})"

VIEW = """
    CREATE OR REPLACE VIEW tenant_leaderboard WITH (security_barrier) AS
    SELECT * FROM strategy_leaderboard WHERE tenant_id = {tenant}
"""


def _policies(predicate: str) -> None:
    for table in TENANT_TABLES:
        op.execute(
            f"ALTER POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
        )


def upgrade() -> None:
    _policies(ONCE)
    op.execute(VIEW.format(tenant=f"(SELECT {TENANT})"))


def downgrade() -> None:
    _policies(PER_ROW)
    op.execute(VIEW.format(tenant=TENANT))
