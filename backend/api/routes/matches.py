"""Matches: fixtures and results, each embedding both teams."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import (
    AdminDep,
    IfMatchDep,
    OptionalIfMatchDep,
    PageDep,
    ReplicaUnitOfWorkDep,
    UnitOfWorkDep,
)
from backend.api.docs import responses
from backend.api.responses import json_response, page_response, resource_response
from backend.api.routing import ApiRoute
from backend.api.schemas.common import PageOf, QueryText, ShortText, Timestamp
from backend.api.schemas.matches import (
    CancelRead,
    MatchCreate,
    MatchRead,
    MatchStatus,
    MatchUpdate,
    ResultBody,
    ResultRead,
)
from backend.repositories.reference import MatchRepository
from backend.services import crud, listing, settlement
from backend.services.reference import ensure_not_finished, ensure_scheduled, matches

router = APIRouter(prefix="/v1/matches", tags=["matches"], route_class=ApiRoute)

WITH_TEAMS = MatchRepository.with_teams


@router.post("", status_code=201, response_model=MatchRead, responses=responses(403, 409, 422))
def create_match(body: MatchCreate, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Create a match (admin). Kickoffs in the past are allowed: history is imported this way."""
    match = crud.create(uow, matches, body.model_dump(), WITH_TEAMS)
    return resource_response(
        MatchRead.model_validate(match),
        version=match.version,
        status=201,
        location=f"/v1/matches/{match.id}",
    )


@router.get("", response_model=PageOf[MatchRead], responses=responses(422))
def list_matches(
    uow: ReplicaUnitOfWorkDep,
    page: PageDep,
    team_id: Annotated[int | None, Query(description="Home or away team")] = None,
    league: Annotated[ShortText | None, Query()] = None,
    season: Annotated[QueryText | None, Query(max_length=7)] = None,
    status: Annotated[MatchStatus | None, Query()] = None,
    kickoff_from: Annotated[Timestamp | None, Query(description="Inclusive")] = None,
    kickoff_to: Annotated[Timestamp | None, Query(description="Exclusive")] = None,
) -> Response:
    """List matches, ordered by kickoff then id; both teams embedded."""
    result = listing.matches(
        uow,
        page,
        team_id=team_id,
        league=league,
        season=season,
        status=status,
        kickoff_from=kickoff_from,
        kickoff_to=kickoff_to,
    )
    return page_response(MatchRead, result)


@router.get("/{match_id}", response_model=MatchRead, responses=responses(404))
def get_match(match_id: int, uow: ReplicaUnitOfWorkDep) -> Response:
    """Get one match."""
    match = crud.get(uow, matches, match_id, WITH_TEAMS)
    return resource_response(MatchRead.model_validate(match), version=match.version)


@router.patch(
    "/{match_id}", response_model=MatchRead, responses=responses(403, 404, 409, 412, 422, 428)
)
def update_match(
    match_id: int, body: MatchUpdate, uow: UnitOfWorkDep, expected: IfMatchDep, _: AdminDep
) -> Response:
    """Reschedule a match (admin) while it is scheduled; needs `If-Match`."""
    match = crud.update(
        uow,
        matches,
        match_id,
        body.model_dump(exclude_unset=True),
        expected,
        WITH_TEAMS,
        ensure_scheduled,
    )
    return resource_response(MatchRead.model_validate(match), version=match.version)


@router.delete("/{match_id}", status_code=204, responses=responses(403, 404, 409, 412))
def delete_match(
    match_id: int, uow: UnitOfWorkDep, expected: OptionalIfMatchDep, _: AdminDep
) -> Response:
    """Delete a match (admin); 409 once finished or while odds or bets reference it."""
    crud.delete(uow, matches, match_id, expected, ensure_not_finished)
    return Response(status_code=204)


@router.post(
    "/{match_id}/result", response_model=ResultRead, responses=responses(403, 404, 409, 422)
)
def post_result(match_id: int, body: ResultBody, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Record the final score (admin) and settle every open bet of every tenant on the match."""
    settled = settlement.post_result(uow, match_id, body.home_score, body.away_score)
    return json_response(
        ResultRead(match=MatchRead.model_validate(settled.match), settled_bets=settled.bets)
    )


@router.post("/{match_id}/cancel", response_model=CancelRead, responses=responses(403, 404, 409))
def cancel_match(match_id: int, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Cancel a match (admin): every open bet is voided and its stake returned."""
    settled = settlement.cancel(uow, match_id)
    return json_response(
        CancelRead(match=MatchRead.model_validate(settled.match), voided_bets=settled.bets)
    )
