"""tenants keys strategies bets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:31:42.126667+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APP_ROLE = "oddsdesk_app"
# Tables whose rows belong to one tenant: row-level security keyed on app.tenant_id, which the
# Unit of Work sets with set_config(..., is_local => true) at the start of each transaction.
TENANT_TABLES = ("strategies", "bets", "idempotency_keys", "audit_log")
TENANT_PREDICATE = (
    "current_setting('app.bypass_rls', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
)


def create_app_role() -> None:
    """The role the application runs as (set at connect); RLS applies to it: no superuser,
    no table ownership, no BYPASSRLS. Roles are per cluster, so it is created only if absent
    and kept on downgrade (other databases of the cluster may use it)."""
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
            BEGIN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
            END;
        END $$;
    """)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
    )


def drop_app_grants() -> None:
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("change_reason", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_tenants_name_not_blank")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_index("ix_tenants_created_at_id", "tenants", ["created_at", "id"], unique=False)
    op.create_index(
        "uq_tenants_lower_name", "tenants", [sa.literal_column("lower(name)")], unique=True
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("change_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_api_keys_name_not_blank")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_idempotency_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False
    )
    op.create_table(
        "strategies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("bankroll", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("initial_bankroll", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("max_stake", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("kill_reason", sa.String(length=500), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("change_reason", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'killed')", name=op.f("ck_strategies_status_valid")
        ),
        sa.CheckConstraint("bankroll >= 0", name=op.f("ck_strategies_bankroll_not_negative")),
        sa.CheckConstraint(
            "initial_bankroll >= 0", name=op.f("ck_strategies_initial_bankroll_not_negative")
        ),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_strategies_name_not_blank")),
        sa.CheckConstraint("max_stake > 0", name=op.f("ck_strategies_max_stake_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_strategies_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_strategies_tenant_id_id")),
    )
    op.create_index(
        "ix_strategies_tenant_id_created_at_id",
        "strategies",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_strategies_tenant_id_lower_name",
        "strategies",
        ["tenant_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "bets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("strategy_id", sa.Uuid(), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("bookmaker_id", sa.Integer(), nullable=False),
        sa.Column("market", sa.String(length=8), nullable=False),
        sa.Column("selection", sa.String(length=8), nullable=False),
        sa.Column("stake", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("price", sa.Numeric(precision=8, scale=3), nullable=False),
        sa.Column("potential_return", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("status", sa.String(length=8), server_default=sa.text("'open'"), nullable=False),
        sa.Column(
            "placed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closing_price", sa.Numeric(precision=8, scale=3), nullable=True),
        sa.Column("clv", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("pnl", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column("change_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "(market = '1x2' AND selection IN ('home', 'draw', 'away')) OR (market = 'ou2.5' AND selection IN ('over', 'under'))",
            name=op.f("ck_bets_market_selection_valid"),
        ),
        sa.CheckConstraint(
            "(status = 'open') = (settled_at IS NULL)", name=op.f("ck_bets_settled_iff_closed")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'won', 'lost', 'void')", name=op.f("ck_bets_status_valid")
        ),
        sa.CheckConstraint("price >= 1.001 AND price <= 1000", name=op.f("ck_bets_price_range")),
        sa.CheckConstraint("stake > 0", name=op.f("ck_bets_stake_positive")),
        sa.ForeignKeyConstraint(
            ["bookmaker_id"],
            ["bookmakers.id"],
            name=op.f("fk_bets_bookmaker_id_bookmakers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["match_id"], ["matches.id"], name=op.f("fk_bets_match_id_matches"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "strategy_id"],
            ["strategies.tenant_id", "strategies.id"],
            name=op.f("fk_bets_tenant_id_strategy_id_strategies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_bets_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bets")),
    )
    op.create_index(op.f("ix_bets_bookmaker_id"), "bets", ["bookmaker_id"], unique=False)
    op.create_index("ix_bets_match_id_status", "bets", ["match_id", "status"], unique=False)
    op.create_index(op.f("ix_bets_strategy_id"), "bets", ["strategy_id"], unique=False)
    op.create_index(
        "ix_bets_tenant_id_placed_at_id", "bets", ["tenant_id", "placed_at", "id"], unique=False
    )
    create_app_role()
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
        )


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    drop_app_grants()
    op.drop_index("ix_bets_tenant_id_placed_at_id", table_name="bets")
    op.drop_index(op.f("ix_bets_strategy_id"), table_name="bets")
    op.drop_index("ix_bets_match_id_status", table_name="bets")
    op.drop_index(op.f("ix_bets_bookmaker_id"), table_name="bets")
    op.drop_table("bets")
    op.drop_index("uq_strategies_tenant_id_lower_name", table_name="strategies")
    op.drop_index("ix_strategies_tenant_id_created_at_id", table_name="strategies")
    op.drop_table("strategies")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("uq_tenants_lower_name", table_name="tenants")
    op.drop_index("ix_tenants_created_at_id", table_name="tenants")
    op.drop_table("tenants")
