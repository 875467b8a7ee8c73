"""strategy risk controls

Two limits a strategy may carry, both NULL (off) by default:
- `max_match_exposure`: the most its open bets on one match may stake together. The placing
  statement checks it in the same conditional UPDATE as the debit (repositories/
  bet_placement.py), under a per-strategy advisory lock, so two concurrent bets cannot both
  pass it.
- `price_tolerance`: how much better than the bookmaker's latest snapshot a bet's price may
  be (a share, 0.0200 = 2%) before the bet is refused as `price-changed`; NULL keeps the
  deployment's BET_PRICE_TOLERANCE.
A partial index of open bets by (tenant, strategy, match), carrying the stake, lets the limit's
sum read the index alone, however many other open bets the match has.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 20:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("strategies", sa.Column("max_match_exposure", sa.Numeric(14, 2), nullable=True))
    op.add_column("strategies", sa.Column("price_tolerance", sa.Numeric(5, 4), nullable=True))
    op.create_check_constraint(
        op.f("ck_strategies_max_match_exposure_positive"), "strategies", "max_match_exposure > 0"
    )
    op.create_check_constraint(
        op.f("ck_strategies_price_tolerance_share"),
        "strategies",
        "price_tolerance >= 0 AND price_tolerance <= 1",
    )
    op.create_index(
        op.f("ix_bets_open_tenant_id_strategy_id_match_id"),
        "bets",
        ["tenant_id", "strategy_id", "match_id"],
        postgresql_where=sa.text("status = 'open'"),
        postgresql_include=["stake"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_bets_open_tenant_id_strategy_id_match_id"), table_name="bets")
    op.drop_constraint(op.f("ck_strategies_price_tolerance_share"), "strategies", type_="check")
    op.drop_constraint(
        op.f("ck_strategies_max_match_exposure_positive"), "strategies", type_="check"
    )
    op.drop_column("strategies", "price_tolerance")
    op.drop_column("strategies", "max_match_exposure")
