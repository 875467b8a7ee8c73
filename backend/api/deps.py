"""`Annotated` dependency aliases used by the routes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query, Request

from backend.api.auth import require_admin, require_any, require_tenant
from backend.api.problems import ApiProblem
from backend.api.schemas.common import SchemaExtra
from backend.core.config import Settings
from backend.core.database import Database
from backend.core.errors import InvalidInput
from backend.core.principal import Principal
from backend.core.replica import reader_key
from backend.core.versioning import ExpectedVersion
from backend.repositories.unit_of_work import UnitOfWork

MAX_REASON = 500
SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")

# Cursors as the server issues them (base64url, unpadded); only an issued one is valid.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"

# Strong ETags as `ExpectedVersion` reads them: one or more quoted versions, comma-separated.
_ETAG = r'"[0-9]{1,18}"'
_ETAG_LIST = rf"{_ETAG}([ \t]*,[ \t]*{_ETAG})*"
ETAG_LIST_PATTERN = f"^{_ETAG_LIST}$"
# Printable ASCII, neither starting nor ending with a space: what is left once `idempotency_key`
# has trimmed the spaces and tabs around the field value (not part of it, RFC 9110 §5.5).
IDEMPOTENCY_KEY_PATTERN = rf"^[\x21-\x7e]([\x20-\x7e]{{0,{MAX_IDEMPOTENCY_KEY - 2}}}[\x21-\x7e])?$"


@dataclass(frozen=True)
class HeaderContract:
    """How a header that the server checks itself (not FastAPI's validation) appears in the
    OpenAPI document. The dependency takes it as an optional string so that it can answer its
    own status codes (400, 412, 428 rather than FastAPI's 422); backend/api/openapi.py states
    here what the server really requires."""

    name: str
    required: bool
    schema: Mapping[str, Any]
    description: str


_HEADER_CONTRACTS: dict[Callable[..., Any], HeaderContract] = {}
CallT = TypeVar("CallT", bound=Callable[..., Any])


def documents_header(contract: HeaderContract) -> Callable[[CallT], CallT]:
    """Declare the header contract of a dependency (see `header_contract`)."""

    def declare(call: CallT) -> CallT:
        _HEADER_CONTRACTS[call] = contract
        return call

    return declare


def header_contract(call: Callable[..., Any] | None) -> HeaderContract | None:
    """The header contract a dependency declared with `documents_header`, if any."""
    return None if call is None else _HEADER_CONTRACTS.get(call)


PrincipalDep = Annotated[Principal, Depends(require_any)]
AdminDep = Annotated[Principal, Depends(require_admin)]
TenantDep = Annotated[Principal, Depends(require_tenant)]


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


ChangeReason = Annotated[
    Annotated[str, SchemaExtra(maxLength=MAX_REASON)] | None,
    Header(description="Stored as the audit entries' change_reason (up to 500 characters)"),
]


def _unit(
    request: Request, principal: Principal, x_change_reason: str | None, *, replica_reads: bool
) -> UnitOfWork:
    reason = x_change_reason.strip() if x_change_reason else None
    if reason and len(reason) > MAX_REASON:
        raise InvalidInput(
            f"X-Change-Reason is longer than {MAX_REASON} characters",
            loc=("header", "x-change-reason"),
        )
    db: Database = request.app.state.db
    read_only = request.method in SAFE_METHODS
    caches, replica = request.app.state.caches, db.replica
    if replica is not None and read_only:
        if replica_reads and replica.serves(reader_key(principal)):
            caches = None  # a cache is only ever filled from the primary
        else:
            replica = None
    return UnitOfWork(
        db.session_factory,
        principal,
        request_id=request.state.request_id,
        change_reason=reason or None,
        caches=caches,
        read_only=read_only,
        replica=replica,
    )


async def get_uow(
    request: Request, principal: PrincipalDep, x_change_reason: ChangeReason = None
) -> UnitOfWork:
    """A Unit of Work for a mutating request, not yet begun: services open and commit it.
    A writing unit tells the replica router (if any) where its commit left the WAL."""
    return _unit(request, principal, x_change_reason, replica_reads=False)


async def get_read_uow(request: Request, principal: PrincipalDep) -> UnitOfWork:
    """A read-only Unit of Work for a GET (and HEAD) route, always on the primary:
    autocommit statements, no BEGIN/ROLLBACK round trips, and PostgreSQL refuses any write it
    would attempt. It takes no X-Change-Reason, which only a mutating request's audit entries
    store (and whose parsing would cost every read its share of FastAPI's header work)."""
    return _unit(request, principal, None, replica_reads=False)


async def get_replica_uow(request: Request, principal: PrincipalDep) -> UnitOfWork:
    """As `get_read_uow`, but the read may go to the replica (DATABASE_REPLICA_URL) while it
    is healthy and has replayed this principal's own last write (core/replica.py)."""
    return _unit(request, principal, None, replica_reads=True)


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (create_app's, not re-read from the environment)."""
    settings: Settings = request.app.state.settings
    return settings


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_uow)]
ReadUnitOfWorkDep = Annotated[UnitOfWork, Depends(get_read_uow)]
# Routes whose reads a replica may serve (reads of a principal after its own write excepted).
ReplicaUnitOfWorkDep = Annotated[UnitOfWork, Depends(get_replica_uow)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


@documents_header(
    HeaderContract(
        name="If-Match",
        required=True,
        schema={"type": "string", "pattern": ETAG_LIST_PATTERN},
        description='The ETag you last read, e.g. "3" (a list of strong ETags is allowed). '
        "Missing (or `*`): 428. Stale, weak or malformed: 412, and nothing changes. A resource "
        "you cannot see is 404 before If-Match is looked at.",
    )
)
async def required_if_match(
    if_match: Annotated[str | None, Header()] = None,  # documented by its HeaderContract
) -> ExpectedVersion:
    return ExpectedVersion(if_match, required=True)


@documents_header(
    HeaderContract(
        name="If-Match",
        required=False,
        schema={"type": "string", "pattern": rf"^(\*|{_ETAG_LIST})$"},
        description='Optional: the ETag you last read, e.g. "3"; when present, stale, weak or '
        "malformed is 412 and nothing changes.",
    )
)
async def optional_if_match(
    if_match: Annotated[str | None, Header()] = None,  # documented by its HeaderContract
) -> ExpectedVersion:
    return ExpectedVersion(if_match, required=False)


IfMatchDep = Annotated[ExpectedVersion, Depends(required_if_match)]
OptionalIfMatchDep = Annotated[ExpectedVersion, Depends(optional_if_match)]


@documents_header(
    HeaderContract(
        name="Idempotency-Key",
        required=True,
        schema={"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
        description=f"1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters (spaces and tabs "
        "around the value are not part of it); a retry with the same key and request gets the "
        "first answer again. Missing or invalid: 400.",
    )
)
async def idempotency_key(
    idempotency_key: Annotated[str | None, Header()] = None,  # documented by its HeaderContract
) -> str:
    """The key, trimmed: whitespace around a field value is not part of it (RFC 9110 §5.5), so
    "k" and "k " are one key, whichever server or client library did (not) strip it."""
    key = None if idempotency_key is None else idempotency_key.strip(" \t")
    if key is None or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiProblem(
            400,
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters",
            code="invalid-idempotency-key",
            title="Invalid Idempotency-Key",
        )
    return key


IdempotencyKeyDep = Annotated[str, Depends(idempotency_key)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None
    include_total: bool


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size, 1-500")] = 50,
    cursor: Annotated[
        Annotated[str, SchemaExtra(minLength=1, pattern=CURSOR_PATTERN)] | None,
        Query(max_length=512, description="Opaque cursor from the previous page"),
    ] = None,
    include_total: Annotated[
        bool, Query(description="Add `total`, the count of all matching rows")
    ] = False,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor, include_total=include_total)


PageDep = Annotated[PageParams, Depends(page_params)]
