"""reference data and audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:19:49.517663+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Append-only tables: the database itself refuses UPDATE, DELETE and TRUNCATE.
FORBID_CHANGE_FN = """
CREATE OR REPLACE FUNCTION oddsdesk_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def forbid_changes(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION oddsdesk_forbid_change()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION oddsdesk_forbid_change()"
    )


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column(
            "changes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("change_reason", sa.String(length=500), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "action IN ('create', 'update', 'delete', 'kill', 'resume', 'settle', 'void')",
            name=op.f("ck_audit_log_action_valid"),
        ),
        sa.CheckConstraint(
            "entity_type IN ('team', 'bookmaker', 'match', 'tenant', 'api_key', 'strategy', 'bet')",
            name=op.f("ck_audit_log_entity_type_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_entity_type_entity_id",
        "audit_log",
        ["entity_type", "entity_id"],
        unique=False,
    )
    op.create_index(
        "ix_audit_log_tenant_id_occurred_at_id",
        "audit_log",
        ["tenant_id", "occurred_at", "id"],
        unique=False,
    )
    op.create_table(
        "bookmakers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("is_sharp", sa.Boolean(), server_default=sa.text("false"), nullable=False),
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
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_bookmakers_name_not_blank")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmakers")),
    )
    op.create_index("ix_bookmakers_name_id", "bookmakers", ["name", "id"], unique=False)
    op.create_index(
        "uq_bookmakers_lower_name", "bookmakers", [sa.literal_column("lower(name)")], unique=True
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("league", sa.String(length=100), nullable=True),
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
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_teams_name_not_blank")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
    )
    op.create_index("ix_teams_name_id", "teams", ["name", "id"], unique=False)
    op.create_index("uq_teams_lower_name", "teams", [sa.literal_column("lower(name)")], unique=True)
    op.create_table(
        "matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("league", sa.String(length=100), nullable=False),
        sa.Column("season", sa.String(length=7), nullable=False),
        sa.Column("home_team_id", sa.Integer(), nullable=False),
        sa.Column("away_team_id", sa.Integer(), nullable=False),
        sa.Column("kickoff_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'scheduled'"), nullable=False
        ),
        sa.Column("home_score", sa.SmallInteger(), nullable=True),
        sa.Column("away_score", sa.SmallInteger(), nullable=True),
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
            "(status = 'finished') = (home_score IS NOT NULL)",
            name=op.f("ck_matches_scores_iff_finished"),
        ),
        sa.CheckConstraint("season ~ '^[0-9]{4}-[0-9]{2}$'", name=op.f("ck_matches_season_format")),
        sa.CheckConstraint(
            "status IN ('scheduled', 'finished', 'cancelled')", name=op.f("ck_matches_status_valid")
        ),
        sa.CheckConstraint(
            "(home_score IS NULL AND away_score IS NULL) OR (home_score BETWEEN 0 AND 99 AND away_score BETWEEN 0 AND 99)",
            name=op.f("ck_matches_scores_valid"),
        ),
        sa.CheckConstraint("home_team_id <> away_team_id", name=op.f("ck_matches_distinct_teams")),
        sa.ForeignKeyConstraint(
            ["away_team_id"],
            ["teams.id"],
            name=op.f("fk_matches_away_team_id_teams"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["home_team_id"],
            ["teams.id"],
            name=op.f("fk_matches_home_team_id_teams"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
        sa.UniqueConstraint(
            "home_team_id",
            "away_team_id",
            "kickoff_at",
            name=op.f("uq_matches_home_team_id_away_team_id_kickoff_at"),
        ),
    )
    op.create_index(op.f("ix_matches_away_team_id"), "matches", ["away_team_id"], unique=False)
    op.create_index(op.f("ix_matches_home_team_id"), "matches", ["home_team_id"], unique=False)
    op.create_index("ix_matches_kickoff_at_id", "matches", ["kickoff_at", "id"], unique=False)
    op.execute(FORBID_CHANGE_FN)
    forbid_changes("audit_log")


def downgrade() -> None:
    op.drop_index("ix_matches_kickoff_at_id", table_name="matches")
    op.drop_index(op.f("ix_matches_home_team_id"), table_name="matches")
    op.drop_index(op.f("ix_matches_away_team_id"), table_name="matches")
    op.drop_table("matches")
    op.drop_index("uq_teams_lower_name", table_name="teams")
    op.drop_index("ix_teams_name_id", table_name="teams")
    op.drop_table("teams")
    op.drop_index("uq_bookmakers_lower_name", table_name="bookmakers")
    op.drop_index("ix_bookmakers_name_id", table_name="bookmakers")
    op.drop_table("bookmakers")
    op.drop_index("ix_audit_log_tenant_id_occurred_at_id", table_name="audit_log")
    op.drop_index("ix_audit_log_entity_type_entity_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION oddsdesk_forbid_change()")
