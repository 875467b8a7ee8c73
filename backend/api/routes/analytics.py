"""Analytics: team profiles and head-to-head records from finished matches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from backend.api.deps import AdminDep, ReplicaUnitOfWorkDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.responses import json_response
from backend.api.routing import ApiRoute
from backend.api.schemas.analytics import HeadToHeadRead, ProfileRead, RecomputeRead
from backend.api.schemas.teams import TeamRead
from backend.services import analytics as service

router = APIRouter(tags=["analytics"], route_class=ApiRoute)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


@router.post("/v1/analytics/recompute", response_model=RecomputeRead, responses=responses(403))
def recompute(uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Rebuild every team profile and head-to-head pair from finished matches (admin)."""
    return json_response(RecomputeRead.model_validate(service.recompute(uow)))


@router.get("/v1/teams/{team_id}/profile", response_model=ProfileRead, responses=responses(404))
async def team_profile(team_id: int, uow: ReplicaUnitOfWorkDep) -> Response:
    """A team's record over finished matches (404 before the first recompute that saw it)."""
    # A cache hit is answered on the event loop; anything else runs in the threadpool.
    found = service.cached_profile(uow, team_id)
    if found is None:
        found = await run_in_threadpool(service.profile, uow, team_id)
    p = found.profile
    assert p is not None
    body = ProfileRead(
        team=TeamRead.model_validate(found.team),
        matches=p["matches"],
        goals_for_per_match=_rate(p["goals_for"], p["matches"]),
        goals_against_per_match=_rate(p["goals_against"], p["matches"]),
        win_rate=_rate(p["wins"], p["matches"]),
        draw_rate=_rate(p["draws"], p["matches"]),
        home_win_rate=_rate(p["home_wins"], p["home_matches"]),
        away_win_rate=_rate(p["away_wins"], p["away_matches"]),
        form=list(p["form"]),
        computed_at=p["computed_at"],
    )
    return json_response(body)


@router.get(
    "/v1/analytics/head-to-head", response_model=HeadToHeadRead, responses=responses(404, 422)
)
def head_to_head(
    uow: ReplicaUnitOfWorkDep,
    team_a: Annotated[int, Query()],
    team_b: Annotated[int, Query()],
) -> Response:
    """Every finished meeting of two teams, either at home."""
    h = service.head_to_head(uow, team_a, team_b)
    body = HeadToHeadRead(
        team_a=TeamRead.model_validate(h.team_a),
        team_b=TeamRead.model_validate(h.team_b),
        meetings=h.meetings,
        team_a_wins=h.team_a_wins,
        draws=h.draws,
        team_b_wins=h.team_b_wins,
        goals_per_meeting=_rate(h.goals, h.meetings),
        last_meeting_at=h.last_meeting_at,
    )
    return json_response(body)
