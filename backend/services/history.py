"""The history tables' partitions (core/history.py), kept made ahead of time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from backend.core.history import HISTORY_TABLES
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case

log = logging.getLogger("oddsdesk.history")

AHEAD = timedelta(days=366)  # this year's partition and the next one's


@use_case
def ensure_ahead(uow: UnitOfWork) -> dict[str, int]:
    """Make this year's and next year's partitions of every history table where missing; how
    many each table got."""
    now = datetime.now(UTC)
    made = {table: uow.history.ensure(table, now, now + AHEAD) for table in HISTORY_TABLES}
    uow.commit()
    if any(made.values()):
        log.info("made history partitions ahead", extra={"made": made})
    return made
