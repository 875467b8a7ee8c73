"""tenant rate limits

Each tenant may carry its own rate limit for its API keys (requests a second and the burst
above it, a token bucket per key); NULL keeps the deployment's RATE_LIMIT_PER_S and
RATE_LIMIT_BURST. Changing them is an UPDATE of `tenants`, which the trigger of migration
0005 already announces, so every worker drops its cached keys of the tenant at the commit.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("rate_limit_per_s", sa.Numeric(10, 3), nullable=True))
    op.add_column("tenants", sa.Column("rate_limit_burst", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_tenants_rate_limit_per_s_positive"), "tenants", "rate_limit_per_s > 0"
    )
    op.create_check_constraint(
        op.f("ck_tenants_rate_limit_burst_positive"), "tenants", "rate_limit_burst >= 1"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_rate_limit_burst_positive"), "tenants", type_="check")
    op.drop_constraint(op.f("ck_tenants_rate_limit_per_s_positive"), "tenants", type_="check")
    op.drop_column("tenants", "rate_limit_burst")
    op.drop_column("tenants", "rate_limit_per_s")
