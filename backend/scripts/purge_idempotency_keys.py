"""Delete idempotency records older than their 24 h lifetime (run it hourly from cron).

Correctness never waits for this: lookups ignore expired records and a reused expired key is
overwritten in place. Purging only keeps the table small.
"""

from __future__ import annotations

import argparse
import sys

from backend.core.config import load_settings
from backend.core.database import create_database
from backend.core.principal import system
from backend.repositories.idempotency import purge_expired
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case


@use_case
def run(uow: UnitOfWork) -> int:
    deleted = purge_expired(uow.session)
    uow.commit()
    return deleted


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None).parse_args(
        argv
    )
    db = create_database(load_settings())
    try:
        deleted = run(UnitOfWork(db.session_factory, system("purge")))
    finally:
        db.dispose()
    print(f"purged {deleted} expired idempotency records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
