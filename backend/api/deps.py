"""`Annotated` dependency aliases used by the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from backend.api.auth import require_admin, require_any, require_tenant
from backend.core.database import Database
from backend.core.errors import InvalidInput
from backend.core.principal import Principal
from backend.core.versioning import ExpectedVersion
from backend.repositories.unit_of_work import UnitOfWork

MAX_REASON = 500
SAFE_METHODS = frozenset({"GET", "HEAD"})

PrincipalDep = Annotated[Principal, Depends(require_any)]
AdminDep = Annotated[Principal, Depends(require_admin)]
TenantDep = Annotated[Principal, Depends(require_tenant)]


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_uow(
    request: Request,
    principal: PrincipalDep,
    x_change_reason: Annotated[
        str | None,
        Header(description="Stored as the audit entries' change_reason (up to 500 characters)"),
    ] = None,
) -> UnitOfWork:
    """A Unit of Work for this request, not yet begun: services open and commit it.

    GET and HEAD requests get a read-only unit (autocommit statements, no BEGIN/ROLLBACK
    round trips, and PostgreSQL refuses any write it would attempt)."""
    reason = x_change_reason.strip() if x_change_reason else None
    if reason and len(reason) > MAX_REASON:
        raise InvalidInput(
            f"X-Change-Reason is longer than {MAX_REASON} characters",
            loc=("header", "x-change-reason"),
        )
    return UnitOfWork(
        request.app.state.db.session_factory,
        principal,
        request_id=request.state.request_id,
        change_reason=reason or None,
        caches=request.app.state.caches,
        read_only=request.method in SAFE_METHODS,
    )


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_uow)]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def required_if_match(
    if_match: Annotated[
        str | None, Header(description='Required: the ETag you last read, e.g. "3"')
    ] = None,
) -> ExpectedVersion:
    return ExpectedVersion(if_match, required=True)


async def optional_if_match(
    if_match: Annotated[str | None, Header(description='Optional ETag, e.g. "3"')] = None,
) -> ExpectedVersion:
    return ExpectedVersion(if_match, required=False)


IfMatchDep = Annotated[ExpectedVersion, Depends(required_if_match)]
OptionalIfMatchDep = Annotated[ExpectedVersion, Depends(optional_if_match)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None
    include_total: bool


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size, 1-500")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Opaque cursor from the previous page")
    ] = None,
    include_total: Annotated[
        bool, Query(description="Add `total`, the count of all matching rows")
    ] = False,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor, include_total=include_total)


PageDep = Annotated[PageParams, Depends(page_params)]
