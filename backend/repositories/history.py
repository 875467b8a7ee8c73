"""The partitions of the history tables (core/history.py): made ahead through the database's
`oddsdesk_ensure_partitions` (which the application role may call; it owns no table), and
listed with their bounds and size for the retention command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from backend.core.history import HISTORY_TABLES, partition_of
from backend.repositories.sql import SqlRepository

_ENSURE = text("SELECT oddsdesk_ensure_partitions(:table, :start, :end)")
# Each partition of a table, its upper bound (null for none) and PostgreSQL's row estimate.
_PARTITIONS = text("""
    SELECT c.relname AS name,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']+)''\\)') AS upper,
           CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS rows_estimate,
           pg_total_relation_size(c.oid) AS bytes
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = CAST(:table AS regclass)
     ORDER BY c.relname
""")


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    year: int | None  # None: the one before core.history.FIRST_YEAR
    upper: datetime | None  # rows are older than this
    rows_estimate: int | None  # PostgreSQL's estimate; None before it has analyzed it
    bytes: int


class HistoryPartitionRepository(SqlRepository):
    def ensure(self, table: str, start: datetime, end: datetime) -> int:
        """Make `table`'s partitions for every UTC year from `start`'s to `end`'s that has
        none yet (at most ten years ahead of now); how many were made. A new partition takes
        a short exclusive lock on the table, until this transaction ends."""
        if table not in HISTORY_TABLES:
            raise ValueError(f"not a partitioned history table: {table}")
        made = self.session.execute(_ENSURE, {"table": table, "start": start, "end": end})
        return int(made.scalar_one())


def partitions(conn: Connection, table: str) -> list[Partition]:
    """`table`'s partitions, oldest first (also outside a unit of work: the retention command
    runs with autocommit, which DETACH ... CONCURRENTLY needs)."""
    if table not in HISTORY_TABLES:
        raise ValueError(f"not a partitioned history table: {table}")
    found = []
    for row in conn.execute(_PARTITIONS, {"table": table}):
        named = partition_of(row.name)
        if named is None:
            continue  # not one of ours (attached by hand): never touched
        upper = datetime.fromisoformat(row.upper) if row.upper else None
        found.append(Partition(table, row.name, named[1], upper, row.rows_estimate, int(row.bytes)))
    return sorted(found, key=lambda p: -1 if p.year is None else p.year)
