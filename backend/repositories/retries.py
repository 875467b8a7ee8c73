"""Which failures of a unit of work are worth running it again from the start, and which
mean the caller's key was refused (by the check that rides with the first statement)."""

from __future__ import annotations

import random
import time

from sqlalchemy.exc import DBAPIError

from backend.core.db_errors import sqlstate
from backend.core.errors import KeyRevoked, TenantInactive
from backend.core.prepared import STALE_PREPARED_SQLSTATES

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
MAX_ATTEMPTS = 3

KEY_REVOKED_SQLSTATE = "OD401"  # raised by oddsdesk_assert_api_key() (migration 0004)
TENANT_INACTIVE_SQLSTATE = "OD403"


def key_error(exc: DBAPIError) -> Exception | None:
    """The domain error for a refused key (401) or tenant (403), if that is what failed."""
    state = sqlstate(exc)
    if state == KEY_REVOKED_SQLSTATE:
        return KeyRevoked()
    if state == TENANT_INACTIVE_SQLSTATE:
        return TenantInactive()
    return None


def retryable(exc: DBAPIError, *, began: bool) -> bool:
    """Whether the whole unit of work may run again: a serialization failure or deadlock, a
    connection found dead by the unit's first statement (`began`: a statement had
    completed, so something may have been done), or a prepared statement the server had
    lost (its connection was replaced, and the transaction it aborted committed nothing)."""
    state = sqlstate(exc)
    fresh_connection_died = exc.connection_invalidated and not began
    stale_prepared = exc.connection_invalidated and state in STALE_PREPARED_SQLSTATES
    return state in RETRYABLE_SQLSTATES or fresh_connection_died or stale_prepared


def pause_before_retry(attempt: int) -> None:
    time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
