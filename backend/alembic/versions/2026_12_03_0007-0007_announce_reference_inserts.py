"""announce inserts of teams and bookmakers too

Cached pages of the reference lists (every team or bookmaker listed in a page) go stale when a
row is added, not only when one changes: the announcement triggers of `teams` and
`bookmakers` now fire after INSERT as well, naming the new row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTED = {"teams": "teams", "bookmakers": "bookmakers"}


def _function(row: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION oddsdesk_announce_change() RETURNS trigger
        LANGUAGE plpgsql
        SET search_path = public
        AS $$
        BEGIN
            PERFORM pg_notify('oddsdesk_invalidations', TG_ARGV[0] || ':' || {row}.id::text);
            RETURN NULL;
        END
        $$
    """


def _triggers(events: str) -> None:
    for table, name in LISTED.items():
        op.execute(f"DROP TRIGGER {table}_announce_change ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_announce_change AFTER {events} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION oddsdesk_announce_change('{name}')"
        )


def upgrade() -> None:
    # NEW for an INSERT, OLD for an UPDATE or DELETE (same id: ids never change).
    op.execute(_function("(CASE WHEN TG_OP = 'INSERT' THEN NEW ELSE OLD END)"))
    _triggers("INSERT OR UPDATE OR DELETE")


def downgrade() -> None:
    _triggers("UPDATE OR DELETE")
    op.execute(_function("OLD"))
