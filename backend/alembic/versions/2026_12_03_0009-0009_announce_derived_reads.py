"""announce rebuilds of the derived reads the app caches

Team profiles and leaderboard pages are cached per worker (see backend/core/cache.py). What
rebuilds them now says so on the invalidation channel, at its commit: any statement that
changes `analytics.team_profiles` announces `team_profiles:*`, and every refresh of the
leaderboard announces `leaderboards:*`. Each worker's listener then drops them all.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "oddsdesk_app"
CHANNEL = "oddsdesk_invalidations"


def _refresh(announce: str) -> None:
    op.execute(f"""
        CREATE OR REPLACE FUNCTION refresh_strategy_leaderboard() RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public SET app.bypass_rls = 'on'
        AS $$ BEGIN REFRESH MATERIALIZED VIEW CONCURRENTLY strategy_leaderboard;{announce} END $$
    """)
    op.execute("REVOKE ALL ON FUNCTION refresh_strategy_leaderboard() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION refresh_strategy_leaderboard() TO {APP_ROLE}")


def upgrade() -> None:
    op.execute(f"""
        CREATE FUNCTION oddsdesk_announce_rebuild() RETURNS trigger
        LANGUAGE plpgsql
        SET search_path = public
        AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_ARGV[0] || ':*');
            RETURN NULL;
        END
        $$
    """)
    op.execute(
        "CREATE TRIGGER team_profiles_announce_rebuild "
        "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analytics.team_profiles "
        "FOR EACH STATEMENT EXECUTE FUNCTION oddsdesk_announce_rebuild('team_profiles')"
    )
    _refresh(f" PERFORM pg_notify('{CHANNEL}', 'leaderboards:*');")


def downgrade() -> None:
    _refresh("")
    op.execute("DROP TRIGGER team_profiles_announce_rebuild ON analytics.team_profiles")
    op.execute("DROP FUNCTION oddsdesk_announce_rebuild()")
