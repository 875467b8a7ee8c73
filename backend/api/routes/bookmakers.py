"""Bookmakers: reference data; `is_sharp` marks the books whose closing prices define CLV."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from backend.api.deps import (
    AdminDep,
    IfMatchDep,
    OptionalIfMatchDep,
    PageDep,
    ReadUnitOfWorkDep,
    UnitOfWorkDep,
)
from backend.api.docs import responses
from backend.api.responses import page_response, resource_response
from backend.api.routing import ApiRoute
from backend.api.schemas.bookmakers import BookmakerCreate, BookmakerRead, BookmakerUpdate
from backend.api.schemas.common import PageOf
from backend.services import crud, listing
from backend.services.reference import bookmakers

router = APIRouter(prefix="/v1/bookmakers", tags=["bookmakers"], route_class=ApiRoute)


@router.post("", status_code=201, response_model=BookmakerRead, responses=responses(403, 409, 422))
def create_bookmaker(body: BookmakerCreate, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Create a bookmaker (admin). Names are unique, case-insensitively."""
    bookmaker = crud.create(uow, bookmakers, body.model_dump())
    return resource_response(
        BookmakerRead.model_validate(bookmaker),
        version=bookmaker.version,
        status=201,
        location=f"/v1/bookmakers/{bookmaker.id}",
    )


@router.get("", response_model=PageOf[BookmakerRead], responses=responses(422))
async def list_bookmakers(
    uow: ReadUnitOfWorkDep,
    page: PageDep,
    is_sharp: Annotated[bool | None, Query()] = None,
) -> Response:
    """List bookmakers, ordered by name then id."""
    # A cached page is answered on the event loop; anything else runs in the threadpool.
    result = listing.cached_bookmakers(uow, page, is_sharp=is_sharp)
    if result is None:
        result = await run_in_threadpool(lambda: listing.bookmakers(uow, page, is_sharp=is_sharp))
    return page_response(BookmakerRead, result)


@router.get("/{bookmaker_id}", response_model=BookmakerRead, responses=responses(404))
async def get_bookmaker(bookmaker_id: int, uow: ReadUnitOfWorkDep) -> Response:
    """Get one bookmaker."""
    # A cache hit is answered on the event loop; anything else runs in the threadpool.
    bookmaker: Mapping[str, Any] | None = crud.cached(
        uow, lambda caches: caches.bookmakers, bookmaker_id
    )
    if bookmaker is None:
        bookmaker = await run_in_threadpool(crud.read, uow, bookmakers, bookmaker_id)
    return resource_response(BookmakerRead.model_validate(bookmaker), version=bookmaker["version"])


@router.patch(
    "/{bookmaker_id}",
    response_model=BookmakerRead,
    responses=responses(403, 404, 409, 412, 422, 428),
)
def update_bookmaker(
    bookmaker_id: int,
    body: BookmakerUpdate,
    uow: UnitOfWorkDep,
    expected: IfMatchDep,
    _: AdminDep,
) -> Response:
    """Change a bookmaker (admin); needs `If-Match` with the current ETag."""
    bookmaker = crud.update(
        uow, bookmakers, bookmaker_id, body.model_dump(exclude_unset=True), expected
    )
    return resource_response(BookmakerRead.model_validate(bookmaker), version=bookmaker.version)


@router.delete("/{bookmaker_id}", status_code=204, responses=responses(403, 404, 409, 412))
def delete_bookmaker(
    bookmaker_id: int, uow: UnitOfWorkDep, expected: OptionalIfMatchDep, _: AdminDep
) -> Response:
    """Delete a bookmaker (admin); 409 while odds or bets reference it."""
    crud.delete(uow, bookmakers, bookmaker_id, expected)
    return Response(status_code=204)
