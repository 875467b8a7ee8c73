"""The history tables, range-partitioned by time: which tables, by which column, and what their
partitions are called.

One partition per UTC year from FIRST_YEAR on (`odds_snapshots_y2024` holds 2024-01-01T00:00Z
up to 2025-01-01T00:00Z) and one for every earlier row (`odds_snapshots_before_2000`). They are
made by the database function `oddsdesk_ensure_partitions` (migration 0015), never by hand:
an odds batch makes those of its rows' years, the worker's periodic job keeps this year and the
next made ahead, and `python -m backend.scripts.retention` detaches the old ones.
"""

from __future__ import annotations

import re
from typing import Final

# table -> the column it is partitioned by
HISTORY_TABLES: Final[dict[str, str]] = {
    "odds_snapshots": "captured_at",
    "audit_log": "occurred_at",
}
FIRST_YEAR: Final = 2000  # rows before it share one partition, <table>_before_2000

_PARTITION = re.compile(
    rf"^(?P<table>{'|'.join(HISTORY_TABLES)})_(?:y(?P<year>[0-9]{{4}})|before_{FIRST_YEAR})$"
)


def partition_by(table: str) -> str:
    """The model's `postgresql_partition_by`."""
    return f"RANGE ({HISTORY_TABLES[table]})"


def partition_of(name: str) -> tuple[str, int | None] | None:
    """(table, year) when `name` is a history partition (year None for the one before
    FIRST_YEAR), else None."""
    found = _PARTITION.match(name)
    if found is None:
        return None
    year = found["year"]
    return found["table"], None if year is None else int(year)


def detached_name(partition: str, stamp: str) -> str:
    """What the retention command renames a detached partition to (`stamp`: YYYYmmddHHMMSS)."""
    return f"{partition}_detached_{stamp}"


def is_history_child(name: str | None) -> bool:
    """A history partition, or one the retention command detached and kept: tables the
    migrations do not declare (the schema checks leave them out)."""
    if name is None:
        return False
    attached, _, stamp = name.partition("_detached_")
    return partition_of(attached) is not None and (
        not stamp or (len(stamp) == 14 and stamp.isdigit())
    )
