"""The demo `make run` loads on first start: real seasons, analytics, a tenant to play with.

Loads the bundled football-data.co.uk seasons, recomputes analytics, creates the tenant
"Demo Fund" (its key goes into .env as DEMO_API_KEY, since a key is shown only once), a
strategy, and a few upcoming fixtures with current prices, so a bet can be placed from /docs
at once. Running it again changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from backend.core.config import load_settings
from backend.core.database import Database, create_database
from backend.core.principal import Principal, system
from backend.models.reference import Bookmaker, Match, Team
from backend.models.tenancy import Tenant
from backend.repositories.unit_of_work import UnitOfWork
from backend.scripts.import_football_data import import_files
from backend.scripts.localdb import PROJECT_ROOT
from backend.services import analytics, strategies, tenancy
from backend.services.use_case import use_case

DATA = PROJECT_ROOT / "data" / "football-data"
DEMO_TENANT = "Demo Fund"
# (home, away, home/draw/away prices): fixtures a few days ahead between real teams.
FIXTURES = (
    ("Arsenal", "Chelsea", ("1.850", "3.700", "4.300")),
    ("Liverpool", "Man United", ("1.620", "4.300", "5.000")),
    ("Man City", "Tottenham", ("1.450", "5.000", "6.500")),
    ("Newcastle", "Aston Villa", ("2.100", "3.500", "3.400")),
    ("Brighton", "Fulham", ("2.000", "3.600", "3.700")),
)


@dataclass
class Demo:
    created: bool
    tenant_key: str | None
    matches: int


def _count_matches(db: Database) -> int:
    with db.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Match)) or 0)


def seed(db: Database, files: list[Path] | None = None) -> Demo:
    """Load the demo unless the database already has matches; returns the demo key if new."""
    if _count_matches(db):
        return Demo(created=False, tenant_key=None, matches=_count_matches(db))
    import_files(db, files if files is not None else sorted(DATA.glob("E0_*.csv")))
    actor = system("demo")
    analytics.recompute(UnitOfWork(db.session_factory, actor))
    tenant, _, secret = tenancy.create_tenant(UnitOfWork(db.session_factory, actor), DEMO_TENANT)
    principal = Principal(kind="tenant", actor="default", tenant_id=tenant.id)
    strategies.create(
        UnitOfWork(db.session_factory, principal),
        name="Closing-line hunter",
        description="Demo strategy",
        bankroll=Decimal("10000.00"),
        max_stake=Decimal("250.00"),
    )
    _fixtures(UnitOfWork(db.session_factory, actor, change_reason="demo fixtures"))
    return Demo(created=True, tenant_key=secret, matches=_count_matches(db))


@use_case
def _fixtures(uow: UnitOfWork) -> None:
    """Upcoming matches with prices captured an hour ago, at every demo bookmaker."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    teams = {t.name: t for t in uow.session.scalars(select(Team))}
    books = list(uow.session.scalars(select(Bookmaker).order_by(Bookmaker.id).limit(4)))
    rows = []
    for day, (home, away, prices) in enumerate(FIXTURES, start=1):
        match = uow.matches.add(
            Match(
                league="Premier League",
                season=_season(now),
                home_team_id=teams[home].id,
                away_team_id=teams[away].id,
                kickoff_at=now + timedelta(days=day, hours=2),
            )
        )
        for offset, book in enumerate(books):
            for selection, price in zip(("home", "draw", "away"), prices, strict=True):
                # Each book a little different, so the best price is worth looking for.
                quoted = Decimal(price) + Decimal("0.020") * offset
                rows.append(
                    f"{match.id},{book.id},1x2,{selection},{quoted},"
                    f"{(now - timedelta(hours=1)).isoformat()}"
                )
    uow.odds.stage("\n".join(rows).encode() + b"\n")
    uow.odds.insert_staged()
    uow.commit()


def _season(now: datetime) -> str:
    start = now.year if now.month >= 7 else now.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def demo_exists(db: Database) -> bool:
    with db.session_factory() as session:
        found = session.scalar(select(Tenant.id).where(Tenant.name == DEMO_TENANT))
        return found is not None


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None).parse_args(
        argv
    )
    db = create_database(load_settings())
    try:
        demo = seed(db)
    finally:
        db.dispose()
    if demo.created:
        print(f"demo loaded: {demo.matches} matches; Demo Fund key: {demo.tenant_key}")
    else:
        print(f"database already has {demo.matches} matches; nothing loaded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
