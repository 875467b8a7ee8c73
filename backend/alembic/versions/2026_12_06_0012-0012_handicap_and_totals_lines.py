"""handicap and totals lines

Markets `ah` (Asian handicap; `line` is the home team's handicap) and `ou` (totals at any line
but 2.5, which stays market `ou2.5`), in quarter goals: a `line` column on odds_snapshots and
bets (NULL for `1x2` and `ou2.5`), the market checks extended to say which market takes which
line, and the odds natural key extended by the line (NULLS NOT DISTINCT: a line-less market
still has one price per bookmaker, selection and moment). Quarter lines settle half won or
half lost: two more bet statuses, `half_won` and `half_lost` (status widened to 16 characters).
The leaderboard counts every decided bet and takes its P&L from the settled `pnl` (a half won
bet's return is not stake x price); for the bets that existed before, the figures are the same.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "oddsdesk_app"
TENANT = "(SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)"

OLD_RULE = (
    "(market = '1x2' AND selection IN ('home', 'draw', 'away')) OR "
    "(market = 'ou2.5' AND selection IN ('over', 'under'))"
)
NEW_RULE = (
    "(market = '1x2' AND selection IN ('home', 'draw', 'away') AND line IS NULL) OR "
    "(market = 'ou2.5' AND selection IN ('over', 'under') AND line IS NULL) OR "
    "(market = 'ah' AND selection IN ('home', 'away') AND line BETWEEN -10 AND 10 "
    "AND line * 4 = trunc(line * 4)) OR "
    "(market = 'ou' AND selection IN ('over', 'under') AND line BETWEEN 0.25 AND 20 "
    "AND line <> 2.5 AND line * 4 = trunc(line * 4))"
)
OLD_STATUSES = "status IN ('open', 'won', 'lost', 'void')"
NEW_STATUSES = "status IN ('open', 'won', 'lost', 'half_won', 'half_lost', 'void')"
KEY = "match_id, bookmaker_id, market, selection{line}, captured_at"

OLD_LEADERBOARD = """
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
NEW_LEADERBOARD = """
CREATE MATERIALIZED VIEW strategy_leaderboard AS
SELECT b.tenant_id,
       b.strategy_id,
       s.name,
       count(*) AS settled,
       sum(b.stake) AS staked,
       sum(b.pnl) AS pnl,
       avg(b.clv) AS avg_clv
  FROM bets b
  JOIN strategies s ON s.id = b.strategy_id AND s.tenant_id = b.tenant_id
 WHERE b.status IN ('won', 'lost', 'half_won', 'half_lost')
 GROUP BY b.tenant_id, b.strategy_id, s.name
"""


def _leaderboard(definition: str) -> None:
    """Build the materialized view (RLS bypassed: it aggregates every tenant), its indexes and
    the tenant-filtered view the app reads (as migration 0008 left it)."""
    op.execute("SET LOCAL app.bypass_rls = 'on'")
    op.execute(definition)
    op.execute(
        "CREATE UNIQUE INDEX uq_strategy_leaderboard_strategy_id "
        "ON strategy_leaderboard (strategy_id)"
    )
    op.execute("CREATE INDEX ix_strategy_leaderboard_tenant_id ON strategy_leaderboard (tenant_id)")
    op.execute(f"REVOKE ALL ON strategy_leaderboard FROM {APP_ROLE}")
    op.execute(f"""
        CREATE VIEW tenant_leaderboard WITH (security_barrier) AS
        SELECT * FROM strategy_leaderboard WHERE tenant_id = {TENANT}
    """)
    op.execute(f"GRANT SELECT ON tenant_leaderboard TO {APP_ROLE}")


def _checks(table: str, rule: str) -> None:
    op.drop_constraint(op.f(f"ck_{table}_market_selection_valid"), table, type_="check")
    op.create_check_constraint(op.f(f"ck_{table}_market_selection_valid"), table, rule)


def upgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW strategy_leaderboard CASCADE")  # and tenant_leaderboard
    op.execute("ALTER TABLE odds_snapshots ADD COLUMN line numeric(5, 2)")
    op.execute("ALTER TABLE bets ADD COLUMN line numeric(5, 2)")
    op.execute("ALTER TABLE bets ALTER COLUMN status TYPE varchar(16)")
    _checks("odds_snapshots", NEW_RULE)
    _checks("bets", NEW_RULE)
    op.drop_constraint(op.f("ck_bets_status_valid"), "bets", type_="check")
    op.create_check_constraint(op.f("ck_bets_status_valid"), "bets", NEW_STATUSES)
    op.drop_constraint(op.f("uq_odds_snapshots_natural_key"), "odds_snapshots", type_="unique")
    op.execute(
        "ALTER TABLE odds_snapshots ADD CONSTRAINT uq_odds_snapshots_natural_key "
        f"UNIQUE NULLS NOT DISTINCT ({KEY.format(line=', line')})"
    )
    _leaderboard(NEW_LEADERBOARD)


def downgrade() -> None:
    op.execute("""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM bets WHERE line IS NOT NULL OR status LIKE 'half%')
             OR EXISTS (SELECT 1 FROM odds_snapshots WHERE line IS NOT NULL) THEN
            RAISE EXCEPTION 'ah / ou prices or bets exist: 0011 cannot hold them';
          END IF;
        END $$
    """)
    op.execute("DROP MATERIALIZED VIEW strategy_leaderboard CASCADE")
    op.drop_constraint(op.f("uq_odds_snapshots_natural_key"), "odds_snapshots", type_="unique")
    op.execute(
        "ALTER TABLE odds_snapshots ADD CONSTRAINT uq_odds_snapshots_natural_key "
        f"UNIQUE ({KEY.format(line='')})"
    )
    op.drop_constraint(op.f("ck_bets_status_valid"), "bets", type_="check")
    op.create_check_constraint(op.f("ck_bets_status_valid"), "bets", OLD_STATUSES)
    _checks("bets", OLD_RULE)
    _checks("odds_snapshots", OLD_RULE)
    op.execute("ALTER TABLE bets ALTER COLUMN status TYPE varchar(8)")
    op.execute("ALTER TABLE bets DROP COLUMN line")
    op.execute("ALTER TABLE odds_snapshots DROP COLUMN line")
    _leaderboard(OLD_LEADERBOARD)
