"""Strategies: a tenant's betting strategies, each with its own bankroll."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from backend.api.deps import IfMatchDep, PageDep, ReplicaUnitOfWorkDep, TenantDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.responses import PRIVATE, json_response, page_response, resource_response
from backend.api.routing import ApiRoute
from backend.api.schemas.common import PageOf
from backend.api.schemas.strategies import (
    Leaderboard,
    LeaderboardEntry,
    LimitsBody,
    PerformanceRead,
    ReasonBody,
    StrategyCreate,
    StrategyRead,
    StrategyRef,
    StrategyStatus,
    StrategyUpdate,
)
from backend.services import crud, listing
from backend.services import strategies as service

router = APIRouter(tags=["strategies"], route_class=ApiRoute)


def _one(strategy: Any, status: int = 200, location: str | None = None) -> Response:
    return resource_response(
        StrategyRead.model_validate(strategy),
        version=strategy.version,
        status=status,
        location=location,
        headers=PRIVATE,
    )


@router.post(
    "/v1/strategies",
    status_code=201,
    response_model=StrategyRead,
    responses=responses(403, 409, 422),
)
def create_strategy(body: StrategyCreate, uow: UnitOfWorkDep, _: TenantDep) -> Response:
    """Create a strategy with its bankroll; it starts `active`."""
    strategy = service.create(uow, **body.model_dump())
    return _one(strategy, 201, f"/v1/strategies/{strategy.id}")


@router.get("/v1/strategies", response_model=PageOf[StrategyRead], responses=responses(403, 422))
def list_strategies(
    uow: ReplicaUnitOfWorkDep,
    page: PageDep,
    _: TenantDep,
    status: Annotated[StrategyStatus | None, Query()] = None,
) -> Response:
    """Your strategies, ordered by creation time then id."""
    result = listing.strategies(uow, page, status=status)
    return page_response(StrategyRead, result, headers=PRIVATE)


@router.get(
    "/v1/strategies/{strategy_id}", response_model=StrategyRead, responses=responses(403, 404)
)
def get_strategy(strategy_id: uuid.UUID, uow: ReplicaUnitOfWorkDep, _: TenantDep) -> Response:
    """Get one of your strategies."""
    return _one(crud.get(uow, service.strategies, strategy_id))


@router.patch(
    "/v1/strategies/{strategy_id}",
    response_model=StrategyRead,
    responses=responses(403, 404, 409, 412, 422, 428),
)
def update_strategy(
    strategy_id: uuid.UUID,
    body: StrategyUpdate,
    uow: UnitOfWorkDep,
    expected: IfMatchDep,
    _: TenantDep,
) -> Response:
    """Change description, max_stake, or pause/unpause; needs `If-Match`."""
    return _one(service.update(uow, strategy_id, body.model_dump(exclude_unset=True), expected))


@router.post(
    "/v1/strategies/{strategy_id}/kill",
    response_model=StrategyRead,
    responses=responses(403, 404, 422),
)
def kill_strategy(
    strategy_id: uuid.UUID, body: ReasonBody, uow: UnitOfWorkDep, _: TenantDep
) -> Response:
    """Kill a strategy: it takes no more bets. Killing a killed strategy changes nothing."""
    return _one(service.kill(uow, strategy_id, body.reason))


@router.post(
    "/v1/strategies/{strategy_id}/pause",
    response_model=StrategyRead,
    responses=responses(403, 404, 409, 422),
)
def pause_strategy(
    strategy_id: uuid.UUID, body: ReasonBody, uow: UnitOfWorkDep, _: TenantDep
) -> Response:
    """Pause a strategy at once (no If-Match): bets after this answer are 409 strategy-paused."""
    return _one(service.pause(uow, strategy_id, body.reason))


@router.post(
    "/v1/strategies/{strategy_id}/limits",
    response_model=StrategyRead,
    responses=responses(403, 404, 409, 422),
)
def change_limits(
    strategy_id: uuid.UUID, body: LimitsBody, uow: UnitOfWorkDep, _: TenantDep
) -> Response:
    """Set risk limits at once (no If-Match): every bet debited after this answer obeys them."""
    return _one(service.change_limits(uow, strategy_id, body.limits(), body.reason))


@router.post(
    "/v1/strategies/{strategy_id}/resume",
    response_model=StrategyRead,
    responses=responses(403, 404, 422),
)
def resume_strategy(
    strategy_id: uuid.UUID, body: ReasonBody, uow: UnitOfWorkDep, _: TenantDep
) -> Response:
    """Make a killed or paused strategy active again; an active one is left as it is."""
    return _one(service.resume(uow, strategy_id, body.reason))


@router.get(
    "/v1/strategies/{strategy_id}/performance",
    response_model=PerformanceRead,
    responses=responses(403, 404),
)
def strategy_performance(
    strategy_id: uuid.UUID, uow: ReplicaUnitOfWorkDep, _: TenantDep
) -> Response:
    """Bets, money, ROI and closing-line value of one strategy."""
    perf = service.performance(uow, strategy_id)
    return json_response(PerformanceRead.model_validate(perf), headers=PRIVATE)


@router.get("/v1/leaderboard", response_model=Leaderboard, responses=responses(403, 422))
async def leaderboard(
    uow: ReplicaUnitOfWorkDep,
    _: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Your strategies with a settled bet, best average CLV first."""
    # A cache hit is answered on the event loop; anything else runs in the threadpool.
    rows = service.cached_leaderboard(uow, limit)
    if rows is None:
        rows = await run_in_threadpool(service.leaderboard, uow, limit)
    body = Leaderboard(
        items=[
            LeaderboardEntry(
                rank=r.rank,
                strategy=StrategyRef(id=r.strategy_id, name=r.name),
                settled=r.settled,
                pnl=r.pnl,
                roi=r.roi,
                avg_clv=r.avg_clv,
            )
            for r in rows
        ]
    )
    return json_response(body, headers=PRIVATE)
