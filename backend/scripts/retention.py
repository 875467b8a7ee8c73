"""Retention of the partitioned history (odds snapshots, audit log): list the yearly partitions,
or take those wholly before a year out of the table.

    python -m backend.scripts.retention list
    python -m backend.scripts.retention detach --table audit_log --before 2020 [--drop] [--yes]

`detach` runs `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY` (readers and writers of the
table are not blocked), then renames the partition `<name>_detached_<UTC stamp>`: a standalone
table, kept for archiving (`pg_dump -t`), or dropped with `--drop`. Without `--yes` it only
says what it would do. Rows are never deleted one by one: the history stays append-only.
Run it as the database owner (the login of DATABASE_URL, as migrations), not as the app role.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from sqlalchemy import Connection, create_engine, pool

from backend.core.config import load_settings
from backend.core.history import HISTORY_TABLES, detached_name
from backend.repositories.history import Partition, partitions


def _size(n: int) -> str:
    return f"{n / 1_048_576:,.1f} MiB"


def _rows(p: Partition) -> str:
    return "rows not estimated yet" if p.rows_estimate is None else f"~{p.rows_estimate:,} rows"


def list_partitions(conn: Connection, tables: list[str]) -> None:
    for table in tables:
        print(f"{table}:")
        for p in partitions(conn, table):
            upper = p.upper.date().isoformat() if p.upper else "-"
            print(f"  {p.name:<32} before {upper}  {_rows(p)}  {_size(p.bytes)}")


def expired(conn: Connection, table: str, before_year: int) -> list[Partition]:
    """`table`'s partitions whose every row is older than January 1st of `before_year` (UTC)."""
    cutoff = datetime(before_year, 1, 1, tzinfo=UTC)
    return [p for p in partitions(conn, table) if p.upper is not None and p.upper <= cutoff]


def detach(conn: Connection, p: Partition, drop: bool) -> str:
    """Detach `p` (CONCURRENTLY: `conn` must be in autocommit), then rename or drop it; the
    name it is left under, or "" when dropped."""
    q = conn.dialect.identifier_preparer.quote
    conn.exec_driver_sql(f"ALTER TABLE {q(p.table)} DETACH PARTITION {q(p.name)} CONCURRENTLY")
    if drop:
        conn.exec_driver_sql(f"DROP TABLE {q(p.name)}")
        return ""
    kept = detached_name(p.name, f"{datetime.now(UTC):%Y%m%d%H%M%S}")
    conn.exec_driver_sql(f"ALTER TABLE {q(p.name)} RENAME TO {q(kept)}")
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every partition, its upper bound and size")
    listing.add_argument("--table", choices=sorted(HISTORY_TABLES))
    taking = actions.add_parser("detach", help="take the partitions before a year out")
    taking.add_argument("--table", choices=sorted(HISTORY_TABLES), required=True)
    taking.add_argument(
        "--before", type=int, required=True, help="a year: partitions wholly before its start"
    )
    taking.add_argument("--drop", action="store_true", help="drop them instead of keeping them")
    taking.add_argument("--yes", action="store_true", help="do it (default: only say what)")
    args = parser.parse_args(argv)

    engine = create_engine(load_settings().sqlalchemy_url, poolclass=pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if args.action == "list":
                list_partitions(conn, [args.table] if args.table else list(HISTORY_TABLES))
                return 0
            found = expired(conn, args.table, args.before)
            if not found:
                print(f"{args.table}: no partition wholly before {args.before}")
                return 0
            for p in found:
                if not args.yes:
                    verb = "drop" if args.drop else "detach"
                    print(f"would {verb} {p.name} ({_rows(p)}); --yes to do it")
                    continue
                kept = detach(conn, p, args.drop)
                print(f"detached {p.name}" + (f", kept as {kept}" if kept else ", dropped"))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
