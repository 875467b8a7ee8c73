"""events outbox

An append-only, tenant-scoped `events` table written in the same transaction as each change
(see models/events.py): row-level security lets a tenant read its own events and the reference
events (tenant NULL) and write only its own; UPDATE, DELETE and TRUNCATE are refused; each
inserting statement notifies channel `oddsdesk_events` (delivered at commit) so long-polling
readers wake without polling.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "oddsdesk_app"
TENANT = "(SELECT NULLIF(current_setting('app.tenant_id', true), ''))::uuid"
BYPASS = "(SELECT current_setting('app.bypass_rls', true) = 'on')"
TYPES = (
    "bet.placed",
    "bet.settled",
    "bet.voided",
    "strategy.created",
    "strategy.updated",
    "strategy.killed",
    "strategy.resumed",
    "match.result",
    "match.cancelled",
    "odds.ingested",
)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            f"type IN ({', '.join(repr(t) for t in TYPES)})", name=op.f("ck_events_type_valid")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_txid_id", "events", ["txid", "id"])
    op.create_index("ix_events_tenant_id_txid_id", "events", ["tenant_id", "txid", "id"])
    op.execute(
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION oddsdesk_forbid_change()"
    )
    op.execute(
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION oddsdesk_forbid_change()"
    )
    op.execute("""
        CREATE FUNCTION oddsdesk_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('oddsdesk_events', ''); RETURN NULL; END $$
    """)
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION oddsdesk_notify_events()"
    )
    op.execute("ALTER TABLE events ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE events FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON events "
        f"USING ({BYPASS} OR tenant_id IS NULL OR tenant_id = {TENANT}) "
        f"WITH CHECK ({BYPASS} OR tenant_id = {TENANT})"
    )
    op.execute(f"GRANT SELECT, INSERT ON events TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE events_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("events")
    op.execute("DROP FUNCTION oddsdesk_notify_events()")
