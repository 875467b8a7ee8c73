"""jobs and webhooks

A generic work queue (`jobs`, claimed with FOR UPDATE SKIP LOCKED under a lease; each insert
notifies channel `oddsdesk_jobs`), the tenant's webhook endpoints, their deliveries and every
attempt (row-level security like `strategies`, with the once-per-statement predicates of
0008), and the one-row cursor of the events fanned out into deliveries. The audit log accepts
`webhook_endpoint` entries.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 23:00:00+00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "oddsdesk_app"
TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
BYPASS = "current_setting('app.bypass_rls', true) = 'on'"
ONCE = f"(SELECT {BYPASS}) OR tenant_id = (SELECT {TENANT})"
TENANT_TABLES = ("webhook_endpoints", "webhook_deliveries", "webhook_attempts")
ENTITIES = ("team", "bookmaker", "match", "tenant", "api_key", "strategy", "bet")


def _entity_check(entities: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_audit_log_entity_type_valid"), "audit_log", type_="check")
    op.create_check_constraint(
        op.f("ck_audit_log_entity_type_valid"),
        "audit_log",
        f"entity_type IN ({', '.join(repr(e) for e in entities)})",
    )


def _tenant_id() -> sa.Column[Any]:
    return sa.Column("tenant_id", sa.Uuid(), nullable=False)


def _created_at(name: str = "created_at") -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False),
        _created_at("run_at"),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'queued'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="5", nullable=False),
        sa.Column("leased_by", sa.String(length=128), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("unique_key", sa.String(length=200), nullable=True),
        sa.Column("repeat_s", sa.Integer(), nullable=True),
        _created_at(),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'dead')", name=op.f("ck_jobs_status_valid")
        ),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_jobs_max_attempts_positive")),
        sa.CheckConstraint("repeat_s > 0", name=op.f("ck_jobs_repeat_s_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_claim_queued",
        "jobs",
        [sa.text("priority DESC"), "run_at", "id"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "ix_jobs_claim_expired",
        "jobs",
        ["leased_until"],
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "uq_jobs_unique_key_live",
        "jobs",
        ["unique_key"],
        unique=True,
        postgresql_where=sa.text("status = 'queued' OR status = 'running'"),
    )
    op.execute("""
        CREATE FUNCTION oddsdesk_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('oddsdesk_jobs', ''); RETURN NULL; END $$
    """)
    op.execute(
        "CREATE TRIGGER jobs_notify AFTER INSERT ON jobs "
        "FOR EACH STATEMENT EXECUTE FUNCTION oddsdesk_notify_jobs()"
    )

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column(
            "event_types",
            postgresql.ARRAY(sa.String(length=32)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        _tenant_id(),
        _created_at(),
        _created_at("updated_at"),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("change_reason", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'disabled')", name=op.f("ck_webhook_endpoints_status_valid")
        ),
        sa.CheckConstraint(
            "secret LIKE 'whsec_%'", name=op.f("ck_webhook_endpoints_secret_format")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhook_endpoints_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_webhook_endpoints_tenant_id_id")),
    )
    op.create_index(
        "ix_webhook_endpoints_tenant_id_created_at_id",
        "webhook_endpoints",
        ["tenant_id", "created_at", "id"],
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        _tenant_id(),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'dead')",
            name=op.f("ck_webhook_deliveries_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_webhook_deliveries_event_id_events"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_tenant_id_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhook_deliveries_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id", "event_id", name=op.f("uq_webhook_deliveries_endpoint_id_event_id")
        ),
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index(
        "ix_webhook_deliveries_tenant_id_endpoint_id_created_at_id",
        "webhook_deliveries",
        ["tenant_id", "endpoint_id", "created_at", "id"],
    )

    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        _created_at("attempted_at"),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _tenant_id(),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhook_attempts_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_delivery_id_id", "webhook_attempts", ["delivery_id", "id"])

    op.create_table(
        "event_dispatch_cursor",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("event_id", sa.BigInteger(), server_default="0", nullable=False),
        _created_at("updated_at"),
        sa.CheckConstraint("id = 1", name=op.f("ck_event_dispatch_cursor_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_dispatch_cursor")),
    )
    op.execute("INSERT INTO event_dispatch_cursor (id) VALUES (1)")

    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({ONCE}) WITH CHECK ({ONCE})")
    # The default privileges of 0002 grant the tables and sequences to the app role already;
    # said again so that the grants do not depend on who ran the earlier migrations.
    for table in ("jobs", *TENANT_TABLES, "event_dispatch_cursor"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    for sequence in ("jobs_id_seq", "webhook_attempts_id_seq"):
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {APP_ROLE}")
    _entity_check((*ENTITIES, "webhook_endpoint"))


def downgrade() -> None:
    # The audit log's policy is forced on its owner too: this transaction sees every tenant's.
    op.execute("SELECT set_config('app.bypass_rls', 'on', true)")
    op.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    op.execute("DELETE FROM audit_log WHERE entity_type = 'webhook_endpoint'")
    op.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    _entity_check(ENTITIES)
    op.drop_table("event_dispatch_cursor")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("jobs")
    op.execute("DROP FUNCTION oddsdesk_notify_jobs()")
