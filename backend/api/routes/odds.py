"""Odds: bulk ingestion (JSON or CSV) and the latest, historical and closing prices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from backend.api.deps import AdminDep, PageDep, ReplicaUnitOfWorkDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.problems import ApiProblem
from backend.api.responses import items_response, json_response, page_response
from backend.api.routing import ApiRoute, is_json_media_type
from backend.api.schemas.common import PageOf, Timestamp
from backend.api.schemas.money import Line
from backend.api.schemas.odds import (
    BatchRead,
    SnapshotList,
    SnapshotRead,
    snapshot_batch_schema,
    snapshot_csv_schema,
)
from backend.core.markets import Market, Selection
from backend.services import listing
from backend.services import odds as service

router = APIRouter(tags=["odds"], route_class=ApiRoute)

_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": snapshot_batch_schema(service.MAX_ROWS),
            },
            "text/csv": {
                "schema": snapshot_csv_schema(),
                "example": "match_id,bookmaker_id,market,selection,price,captured_at\n"
                "1,1,1x2,home,2.150,2024-08-16T18:00:00Z\n",
            },
        },
    }
}


@router.post(
    "/v1/odds/batch",
    response_model=BatchRead,
    openapi_extra=_BATCH_BODY,
    responses=responses(400, 403, 413, 415, 422),
)
async def ingest_batch(request: Request, uow: UnitOfWorkDep, _: AdminDep) -> Response:
    """Store up to 100,000 snapshots at once (admin); all-or-nothing, duplicates skipped."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    try:
        if is_json_media_type(content_type):
            batch = service.parse_json(body)
        elif content_type.split(";", 1)[0].strip().lower() == "text/csv":
            batch = service.parse_csv(body)
        else:
            raise ApiProblem(415, "send application/json or text/csv")
    except (service.MalformedBody, UnicodeDecodeError) as exc:
        raise ApiProblem(400, str(exc)) from None
    result = await run_in_threadpool(service.ingest, uow, batch)
    return json_response(BatchRead.model_validate(result))


@router.get(
    "/v1/matches/{match_id}/odds", response_model=SnapshotList, responses=responses(404, 422)
)
def latest_odds(
    match_id: int,
    uow: ReplicaUnitOfWorkDep,
    at: Annotated[Timestamp | None, Query(description="RFC 3339 with offset; default now")] = None,
) -> Response:
    """The latest price per (bookmaker, market, selection, line) captured at or before `at`."""
    return items_response(service.latest_odds(uow, match_id, at))


@router.get(
    "/v1/matches/{match_id}/closing-odds", response_model=SnapshotList, responses=responses(404)
)
def closing_odds(match_id: int, uow: ReplicaUnitOfWorkDep) -> Response:
    """The latest price per (bookmaker, market, selection, line) at kickoff: the closing
    line."""
    return items_response(service.closing_odds(uow, match_id))


@router.get(
    "/v1/matches/{match_id}/odds/history",
    response_model=PageOf[SnapshotRead],
    responses=responses(404, 422),
)
def odds_history(
    match_id: int,
    uow: ReplicaUnitOfWorkDep,
    page: PageDep,
    bookmaker_id: Annotated[int | None, Query()] = None,
    market: Annotated[Market | None, Query()] = None,
    selection: Annotated[Selection | None, Query()] = None,
    line: Annotated[Line | None, Query(description="ah / ou: only this line")] = None,
) -> Response:
    """Every snapshot of a match, by capture time then id."""
    result = listing.odds_history(
        uow,
        page,
        match_id,
        bookmaker_id=bookmaker_id,
        market=market,
        selection=selection,
        line=line,
    )
    return page_response(SnapshotRead, result)
