"""Bets: placed idempotently against a strategy's bankroll."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Response

from backend.api.deps import PageDep, TenantDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.problems import ApiProblem
from backend.api.responses import JSON, PRIVATE, page_response, resource_response
from backend.api.routing import ApiRoute
from backend.api.schemas.bets import BetCreate, BetRead, BetStatus
from backend.api.schemas.common import MAX_ID, PageOf
from backend.models.trading import Bet
from backend.services import crud
from backend.services.bets import BetRequest, fingerprint, place_bet

router = APIRouter(prefix="/v1/bets", tags=["bets"], route_class=ApiRoute)

_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


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
    idempotency_key: Annotated[
        str | None,
        Header(
            description="1-255 printable ASCII characters; a retry with the same key and "
            "request gets the first answer again"
        ),
    ] = None,
) -> Response:
    """Place a bet; the stake leaves the strategy's bankroll in the same transaction."""
    # Whitespace around a field value is not part of it (RFC 9110 §5.5): "k" and "k " are
    # one key, whichever server or client library did (not) strip it.
    key = None if idempotency_key is None else idempotency_key.strip(" \t")
    if key is None or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiProblem(
            400,
            "Idempotency-Key must be 1-255 printable ASCII characters",
            code="invalid-idempotency-key",
            title="Invalid Idempotency-Key",
        )
    request = BetRequest(**body.model_dump())
    placed = uow.run(
        place_bet,
        request,
        key=key,
        request_fingerprint=fingerprint(body.fingerprint_fields()),
        render=_render,
    )
    headers = {**PRIVATE, "Location": f"/v1/bets/{orjson.loads(placed.body)['id']}"}
    if placed.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        content=placed.body, status_code=placed.status_code, media_type=JSON, headers=headers
    )


@router.get("", response_model=PageOf[BetRead], responses=responses(403, 422))
def list_bets(
    uow: UnitOfWorkDep,
    page: PageDep,
    _: TenantDep,
    strategy_id: Annotated[uuid.UUID | None, Query()] = None,
    match_id: Annotated[int | None, Query()] = None,
    status: Annotated[BetStatus | None, Query()] = None,
) -> Response:
    """Your bets, ordered by placement time then id."""
    filters = []
    if strategy_id is not None:
        filters.append(Bet.strategy_id == strategy_id)
    if match_id is not None:
        filters.append(Bet.match_id == match_id if 0 < match_id <= MAX_ID else Bet.match_id < 0)
    if status is not None:
        filters.append(Bet.status == status)
    result = uow.run(
        crud.list_page,
        lambda u: u.bets,
        filters=filters,
        order_by=[Bet.placed_at],
        cursor=page.cursor,
        limit=page.limit,
        include_total=page.include_total,
    )
    return page_response(BetRead, result, headers=PRIVATE)


@router.get("/{bet_id}", response_model=BetRead, responses=responses(403, 404))
def get_bet(bet_id: uuid.UUID, uow: UnitOfWorkDep, _: TenantDep) -> Response:
    """Get one of your bets."""
    bet = uow.run(crud.get, lambda u: u.bets, bet_id)
    return resource_response(BetRead.model_validate(bet), version=None, headers=PRIVATE)
