"""Domain errors shared by every layer. The API maps them to problem+json in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base of every error a caller can act on. `code` is the stable problem slug."""

    code = "domain-error"
    title = "Request cannot be processed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not-found"
    title = "Not found"

    def __init__(self, entity: str, ident: object) -> None:
        super().__init__(f"{entity} {ident} does not exist")
        self.entity = entity
        self.ident = ident


class Duplicate(DomainError):
    """A unique constraint refused the write."""

    code = "duplicate"
    title = "Already exists"

    def __init__(self, detail: str, constraint: str | None = None) -> None:
        super().__init__(detail)
        self.constraint = constraint


class ForeignKeyViolation(DomainError):
    """A write named a row that does not exist."""

    code = "invalid-reference"
    title = "Unknown reference"

    def __init__(self, detail: str, constraint: str | None = None) -> None:
        super().__init__(detail)
        self.constraint = constraint


class StillReferenced(ForeignKeyViolation):
    """A delete was refused because other rows still point at the row."""

    code = "still-referenced"
    title = "Still referenced"


class CheckViolation(DomainError):
    code = "constraint-violation"
    title = "Constraint violated"

    def __init__(self, detail: str, constraint: str | None = None) -> None:
        super().__init__(detail)
        self.constraint = constraint


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a domain rule (answered as 422)."""

    code = "validation-error"
    title = "Invalid request"

    def __init__(
        self,
        detail: str,
        loc: Sequence[str | int] = ("body",),
        code: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.loc = list(loc)
        if code:
            self.code = code
        if title:
            self.title = title


class Conflict(DomainError):
    """The resource's state forbids the change (answered as 409 with a specific slug)."""

    title = "Conflict"

    def __init__(
        self,
        code: str,
        detail: str,
        title: str | None = None,
        members: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        if title:
            self.title = title
        # RFC 9457 extension members of the answer (e.g. the current price of price-changed).
        self.members = dict(members or {})


class PreconditionRequired(DomainError):
    code = "precondition-required"
    title = "Precondition required"


class PreconditionFailed(DomainError):
    code = "precondition-failed"
    title = "Precondition failed"


class TenantInactive(Exception):
    """The key is valid but its tenant is deactivated (answered as 403 tenant-inactive)."""


class KeyRevoked(Exception):
    """The key was revoked since this process cached it (answered as 401)."""
