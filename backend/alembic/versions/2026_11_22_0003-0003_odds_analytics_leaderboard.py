"""odds analytics leaderboard

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:59:57.924373+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APP_ROLE = "oddsdesk_app"

LEADERBOARD = """
CREATE MATERIALIZED VIEW strategy_leaderboard AS
SELECT b.tenant_id,
       b.strategy_id,
       s.name,
       count(*) AS settled,
       sum(b.stake) AS staked,
       coalesce(sum(round(b.stake * b.price, 2)) FILTER (WHERE b.status = 'won'), 0)
         - sum(b.stake) AS pnl,
       avg(b.clv) AS avg_clv
  FROM bets b
  JOIN strategies s ON s.id = b.strategy_id AND s.tenant_id = b.tenant_id
 WHERE b.status IN ('won', 'lost')
 GROUP BY b.tenant_id, b.strategy_id, s.name
"""


def create_leaderboard() -> None:
    # Built and refreshed by its owner with RLS bypassed (it aggregates every tenant), so the
    # app never reads it directly: tenants read the filtered security-barrier view below.
    op.execute("SET LOCAL app.bypass_rls = 'on'")
    op.execute(LEADERBOARD)
    op.execute(
        "CREATE UNIQUE INDEX uq_strategy_leaderboard_strategy_id "
        "ON strategy_leaderboard (strategy_id)"
    )
    op.execute("CREATE INDEX ix_strategy_leaderboard_tenant_id ON strategy_leaderboard (tenant_id)")
    op.execute(f"REVOKE ALL ON strategy_leaderboard FROM {APP_ROLE}")
    op.execute("""
        CREATE VIEW tenant_leaderboard WITH (security_barrier) AS
        SELECT * FROM strategy_leaderboard
         WHERE tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    """)
    op.execute(f"GRANT SELECT ON tenant_leaderboard TO {APP_ROLE}")
    op.execute("""
        CREATE FUNCTION refresh_strategy_leaderboard() RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public SET app.bypass_rls = 'on'
        AS $$ BEGIN REFRESH MATERIALIZED VIEW CONCURRENTLY strategy_leaderboard; END $$
    """)
    op.execute("REVOKE ALL ON FUNCTION refresh_strategy_leaderboard() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION refresh_strategy_leaderboard() TO {APP_ROLE}")


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    op.execute(f"GRANT USAGE ON SCHEMA analytics TO {APP_ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA analytics "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.create_table(
        "head_to_head",
        sa.Column("team_a_id", sa.Integer(), nullable=False),
        sa.Column("team_b_id", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("team_a_wins", sa.Integer(), nullable=False),
        sa.Column("draws", sa.Integer(), nullable=False),
        sa.Column("team_b_wins", sa.Integer(), nullable=False),
        sa.Column("goals", sa.Integer(), nullable=False),
        sa.Column("last_meeting_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("team_a_id < team_b_id", name=op.f("ck_head_to_head_ordered_pair")),
        sa.ForeignKeyConstraint(
            ["team_a_id"],
            ["teams.id"],
            name=op.f("fk_head_to_head_team_a_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_b_id"],
            ["teams.id"],
            name=op.f("fk_head_to_head_team_b_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_a_id", "team_b_id", name=op.f("pk_head_to_head")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_head_to_head_team_b_id"),
        "head_to_head",
        ["team_b_id"],
        unique=False,
        schema="analytics",
    )
    op.create_table(
        "team_profiles",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.Column("goals_for", sa.Integer(), nullable=False),
        sa.Column("goals_against", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("draws", sa.Integer(), nullable=False),
        sa.Column("losses", sa.Integer(), nullable=False),
        sa.Column("home_matches", sa.Integer(), nullable=False),
        sa.Column("home_wins", sa.Integer(), nullable=False),
        sa.Column("away_matches", sa.Integer(), nullable=False),
        sa.Column("away_wins", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=5), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_profiles_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_profiles")),
        schema="analytics",
    )
    op.create_table(
        "odds_snapshots",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("bookmaker_id", sa.Integer(), nullable=False),
        sa.Column("market", sa.String(length=8), nullable=False),
        sa.Column("selection", sa.String(length=8), nullable=False),
        sa.Column("price", sa.Numeric(precision=8, scale=3), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(market = '1x2' AND selection IN ('home', 'draw', 'away')) OR (market = 'ou2.5' AND selection IN ('over', 'under'))",
            name=op.f("ck_odds_snapshots_market_selection_valid"),
        ),
        sa.CheckConstraint(
            "price >= 1.001 AND price <= 1000", name=op.f("ck_odds_snapshots_price_range")
        ),
        sa.ForeignKeyConstraint(
            ["bookmaker_id"],
            ["bookmakers.id"],
            name=op.f("fk_odds_snapshots_bookmaker_id_bookmakers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["matches.id"],
            name=op.f("fk_odds_snapshots_match_id_matches"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_odds_snapshots")),
        sa.UniqueConstraint(
            "match_id",
            "bookmaker_id",
            "market",
            "selection",
            "captured_at",
            name="uq_odds_snapshots_natural_key",
        ),
    )
    op.create_index(
        op.f("ix_odds_snapshots_bookmaker_id"), "odds_snapshots", ["bookmaker_id"], unique=False
    )
    op.create_index(
        "ix_odds_snapshots_match_id_captured_at_id",
        "odds_snapshots",
        ["match_id", "captured_at", "id"],
        unique=False,
    )
    # Snapshots are history: the database refuses UPDATE, DELETE and TRUNCATE (function of 0001).
    op.execute(
        "CREATE TRIGGER odds_snapshots_append_only BEFORE UPDATE OR DELETE ON odds_snapshots "
        "FOR EACH ROW EXECUTE FUNCTION oddsdesk_forbid_change()"
    )
    op.execute(
        "CREATE TRIGGER odds_snapshots_no_truncate BEFORE TRUNCATE ON odds_snapshots "
        "FOR EACH STATEMENT EXECUTE FUNCTION oddsdesk_forbid_change()"
    )
    create_leaderboard()


def downgrade() -> None:
    op.execute("DROP FUNCTION refresh_strategy_leaderboard()")
    op.execute("DROP VIEW tenant_leaderboard")
    op.execute("DROP MATERIALIZED VIEW strategy_leaderboard")
    op.drop_index("ix_odds_snapshots_match_id_captured_at_id", table_name="odds_snapshots")
    op.drop_index(op.f("ix_odds_snapshots_bookmaker_id"), table_name="odds_snapshots")
    op.drop_table("odds_snapshots")
    op.drop_table("team_profiles", schema="analytics")
    op.drop_index(op.f("ix_head_to_head_team_b_id"), table_name="head_to_head", schema="analytics")
    op.drop_table("head_to_head", schema="analytics")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA analytics "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
    )
    op.execute(f"REVOKE USAGE ON SCHEMA analytics FROM {APP_ROLE}")
    op.execute("DROP SCHEMA analytics")
