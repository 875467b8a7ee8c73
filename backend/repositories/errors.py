"""A repository's database errors as domain errors: IntegrityError by SQLSTATE and constraint
name (a duplicate, a missing or still-referencing row, a broken rule), StaleDataError as a
failed precondition."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from backend.core.db_errors import classify_db_error
from backend.core.errors import (
    CheckViolation,
    Duplicate,
    ForeignKeyViolation,
    PreconditionFailed,
    StillReferenced,
)

Operation = Literal["insert", "update", "delete"]


@contextmanager
def translated(
    entity_name: str, messages: Mapping[str, str], operation: Operation
) -> Iterator[None]:
    """IntegrityError by SQLSTATE and constraint name -> domain error, chained with `from`."""
    try:
        yield
    except IntegrityError as exc:
        raise domain_error(exc, entity_name, messages, operation) from exc
    except StaleDataError as exc:
        raise PreconditionFailed(
            f"{entity_name} was changed by another request; reload and retry"
        ) from exc


def domain_error(
    exc: IntegrityError, entity_name: str, messages: Mapping[str, str], operation: Operation
) -> Exception:
    if classify_db_error(exc) is not None:
        # The database could not do it now (a history table's missing partition reports
        # itself as a check violation): not the caller's, so no domain error; it is a 503.
        return exc
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    message = messages.get(constraint or "")
    if code == "23505":
        return Duplicate(message or f"{entity_name} already exists", constraint)
    # 23001 restrict_violation: PostgreSQL 18 reports an ON DELETE RESTRICT key this way
    # (15 to 17 report it as 23503 foreign_key_violation).
    if code in ("23503", "23001"):
        if operation == "delete":
            return StillReferenced(
                message or f"{entity_name} is still referenced by other records", constraint
            )
        return ForeignKeyViolation(message or "a referenced record does not exist", constraint)
    if code in ("23514", "23502"):
        return CheckViolation(message or f"{entity_name} breaks a rule", constraint)
    return exc
