"""Teams: reference data, readable with any key, written with the admin key."""

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
from backend.api.schemas.common import PageOf, QueryText, ShortText
from backend.api.schemas.teams import TeamCreate, TeamRead, TeamUpdate
from backend.services import crud, listing
from backend.services.reference import teams

router = APIRouter(prefix="/v1/teams", tags=["teams"], route_class=ApiRoute)


@router.post("", status_code=201, response_model=TeamRead, responses=responses(403, 409, 422))
def create_team(body: TeamCreate, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Create a team (admin). Names are unique, case-insensitively."""
    team = crud.create(uow, teams, body.model_dump())
    return resource_response(
        TeamRead.model_validate(team),
        version=team.version,
        status=201,
        location=f"/v1/teams/{team.id}",
    )


@router.get("", response_model=PageOf[TeamRead], responses=responses(422))
async def list_teams(
    uow: ReadUnitOfWorkDep,
    page: PageDep,
    league: Annotated[ShortText | None, Query()] = None,
    country: Annotated[ShortText | None, Query()] = None,
    q: Annotated[
        QueryText | None,
        Query(max_length=100, description="Case-insensitive substring of the name"),
    ] = None,
) -> Response:
    """List teams, ordered by name then id."""
    # A cached page is answered on the event loop; anything else runs in the threadpool.
    result = listing.cached_teams(uow, page, league=league, country=country, q=q)
    if result is None:
        result = await run_in_threadpool(
            lambda: listing.teams(uow, page, league=league, country=country, q=q)
        )
    return page_response(TeamRead, result)


@router.get("/{team_id}", response_model=TeamRead, responses=responses(404))
async def get_team(team_id: int, uow: ReadUnitOfWorkDep) -> Response:
    """Get one team."""
    # A cache hit is answered on the event loop; anything else runs in the threadpool.
    team: Mapping[str, Any] | None = crud.cached(uow, lambda caches: caches.teams, team_id)
    if team is None:
        team = await run_in_threadpool(crud.read, uow, teams, team_id)
    return resource_response(TeamRead.model_validate(team), version=team["version"])


@router.patch(
    "/{team_id}", response_model=TeamRead, responses=responses(403, 404, 409, 412, 422, 428)
)
def update_team(
    team_id: int, body: TeamUpdate, uow: UnitOfWorkDep, expected: IfMatchDep, _: AdminDep
) -> Response:
    """Change a team (admin); needs `If-Match` with the current ETag."""
    team = crud.update(uow, teams, team_id, body.model_dump(exclude_unset=True), expected)
    return resource_response(TeamRead.model_validate(team), version=team.version)


@router.delete("/{team_id}", status_code=204, responses=responses(403, 404, 409, 412))
def delete_team(
    team_id: int, uow: UnitOfWorkDep, expected: OptionalIfMatchDep, _: AdminDep
) -> Response:
    """Delete a team (admin); 409 while matches reference it."""
    crud.delete(uow, teams, team_id, expected)
    return Response(status_code=204)
