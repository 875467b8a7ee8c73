"""Bets: placed idempotently against a strategy's bankroll."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response

from backend.api.deps import (
    IdempotencyKeyDep,
    PageDep,
    ReplicaUnitOfWorkDep,
    SettingsDep,
    TenantDep,
    UnitOfWorkDep,
)
from backend.api.docs import responses
from backend.api.responses import JSON, PRIVATE, page_response, resource_response
from backend.api.routing import ApiRoute
from backend.api.schemas.bets import BetCreate, BetRead
from backend.api.schemas.common import PageOf
from backend.core.markets import BetStatus
from backend.services import crud, listing
from backend.services.bets import BetRequest, fingerprint, place_bet

router = APIRouter(prefix="/v1/bets", tags=["bets"], route_class=ApiRoute)


def _render(bet: object) -> str:
    return BetRead.model_validate(bet).model_dump_json()


@router.post(
    "",
    status_code=201,
    response_model=BetRead,
    responses=responses(400, 403, 404, 409, 422),
)
def place(
    body: BetCreate,
    uow: UnitOfWorkDep,
    _: TenantDep,
    key: IdempotencyKeyDep,
    settings: SettingsDep,
) -> Response:
    """Place a bet; the stake leaves the strategy's bankroll in the same transaction."""
    request = BetRequest(**body.model_dump())
    placed = place_bet(
        uow,
        request,
        key=key,
        request_fingerprint=fingerprint(body.fingerprint_fields()),
        render=_render,
        default_price_tolerance=settings.bet_price_tolerance,
    )
    headers = {**PRIVATE, "Location": f"/v1/bets/{orjson.loads(placed.body)['id']}"}
    if placed.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        content=placed.body, status_code=placed.status_code, media_type=JSON, headers=headers
    )


@router.get("", response_model=PageOf[BetRead], responses=responses(403, 422))
def list_bets(
    uow: ReplicaUnitOfWorkDep,
    page: PageDep,
    _: TenantDep,
    strategy_id: Annotated[uuid.UUID | None, Query()] = None,
    match_id: Annotated[int | None, Query()] = None,
    status: Annotated[BetStatus | None, Query()] = None,
) -> Response:
    """Your bets, ordered by placement time then id."""
    result = listing.bets(uow, page, strategy_id=strategy_id, match_id=match_id, status=status)
    return page_response(BetRead, result, headers=PRIVATE)


@router.get("/{bet_id}", response_model=BetRead, responses=responses(403, 404))
def get_bet(bet_id: uuid.UUID, uow: ReplicaUnitOfWorkDep, _: TenantDep) -> Response:
    """Get one of your bets."""
    bet = crud.get(uow, lambda u: u.bets, bet_id)
    return resource_response(BetRead.model_validate(bet), version=None, headers=PRIVATE)
