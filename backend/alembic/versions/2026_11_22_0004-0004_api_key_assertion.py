"""api key assertion

A function the unit of work calls in the preamble of its transaction's first statement: it
raises (SQLSTATE OD401 revoked or unknown key, OD403 deactivated tenant) instead of returning a
status, so the check rides along with the real work in one round trip.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "oddsdesk_app"


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION oddsdesk_assert_api_key(key_id uuid) RETURNS void
        LANGUAGE plpgsql STABLE
        SET search_path = public
        AS $$
        DECLARE
            revoked timestamptz;
            active boolean;
        BEGIN
            SELECT k.revoked_at, t.is_active INTO revoked, active
              FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.id = key_id;
            IF NOT FOUND OR revoked IS NOT NULL THEN
                RAISE EXCEPTION 'API key revoked or unknown' USING ERRCODE = 'OD401';
            END IF;
            IF NOT active THEN
                RAISE EXCEPTION 'tenant deactivated' USING ERRCODE = 'OD403';
            END IF;
        END
        $$
    """)
    op.execute("REVOKE ALL ON FUNCTION oddsdesk_assert_api_key(uuid) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION oddsdesk_assert_api_key(uuid) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION oddsdesk_assert_api_key(uuid)")
