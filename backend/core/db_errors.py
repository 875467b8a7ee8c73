"""SQLSTATEs and driver errors, told apart: what the caller caused from what the database
could not do now (the API answers the latter with 503 and Retry-After)."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLSTATEs that mean "the database could not serve this now; try again".
_UNAVAILABLE_SQLSTATES = {
    "55P03": "lock_timeout",
    "57014": "statement_timeout",
    "57P01": "connection_lost",  # admin shutdown / terminated backend
    "57P02": "connection_lost",
    "57P03": "unavailable",  # cannot connect now (starting up, shutting down)
    "53300": "too_many_connections",
    "40001": "serialization_failure",
    "40P01": "deadlock",
}


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "pgcode", None)


def _message(exc: BaseException) -> str:
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    return getattr(diag, "message_primary", None) or ""


def classify_db_error(exc: BaseException) -> str | None:
    """The kind of an infrastructure failure, or None for an error the caller caused."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "pool_timeout"
    code = sqlstate(exc)
    if code == "23514" and _message(exc).startswith("no partition of relation"):
        # A history table has no partition for this time yet (core/history.py): the worker's
        # periodic job makes it; the write can be retried then.
        return "partition_missing"
    if code in _UNAVAILABLE_SQLSTATES:
        return _UNAVAILABLE_SQLSTATES[code]
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "connection_lost"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return "unavailable" if code is None else "connection_lost"
    if isinstance(exc, OSError):
        return "unavailable"
    return None
