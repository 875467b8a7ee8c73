"""cache invalidation triggers

Every committed change of a cached row (teams, bookmakers, API keys, tenants) is announced on
the `oddsdesk_invalidations` channel (LISTEN/NOTIFY): whoever made it, through the API, a
script or plain SQL. NOTIFY is transactional, so a rolled-back change announces nothing and
a committed one is announced at its commit. Each worker's listener drops what it cached.

Payloads: `teams:<id>`, `bookmakers:<id>`, `api_key:<id>`, `tenant:<id>`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> what its payload names
ANNOUNCED = {
    "teams": "teams",
    "bookmakers": "bookmakers",
    "api_keys": "api_key",
    "tenants": "tenant",
}


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION oddsdesk_announce_change() RETURNS trigger
        LANGUAGE plpgsql
        SET search_path = public
        AS $$
        BEGIN
            PERFORM pg_notify('oddsdesk_invalidations', TG_ARGV[0] || ':' || OLD.id::text);
            RETURN NULL;
        END
        $$
    """)
    for table, name in ANNOUNCED.items():
        op.execute(
            f"CREATE TRIGGER {table}_announce_change AFTER UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION oddsdesk_announce_change('{name}')"
        )


def downgrade() -> None:
    for table in ANNOUNCED:
        op.execute(f"DROP TRIGGER {table}_announce_change ON {table}")
    op.execute("DROP FUNCTION oddsdesk_announce_change()")
