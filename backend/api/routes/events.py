"""The event feed: `GET /v1/events`, keyset by an opaque cursor, with long-poll."""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from backend.api.deps import ReadUnitOfWorkDep, TenantDep
from backend.api.docs import responses
from backend.api.responses import PRIVATE, json_response
from backend.api.routing import ApiRoute
from backend.api.schemas.events import EventPage, EventRead
from backend.core.event_notifier import EventNotifier
from backend.models.events import EVENT_TYPES
from backend.services import events as service

router = APIRouter(prefix="/v1/events", tags=["events"], route_class=ApiRoute)

# `types`: event types separated by commas (spaces around them allowed), or nothing.
_TYPE = "|".join(re.escape(t) for t in EVENT_TYPES)
TYPES_PATTERN = rf"^( *({_TYPE}) *(, *({_TYPE}) *)*)?$"
# While a newer event is held back behind a transaction still open, read again this often
# (its NOTIFY came when it committed; nothing else will announce that the horizon moved).
HELD_BACK_RECHECK_S = 0.25


def _page(page: service.FeedPage) -> EventPage:
    return EventPage(
        items=[
            EventRead(
                id=e.position.id,
                type=e.type,
                entity_type=e.entity_type,
                entity_id=e.entity_id,
                occurred_at=e.occurred_at,
                payload=e.payload,
                request_id=e.request_id,
                cursor=str(e.position),
            )
            for e in page.events
        ],
        cursor=str(page.cursor),
    )


@router.get("", response_model=EventPage, responses=responses(403, 422))
async def feed(
    request: Request,
    uow: ReadUnitOfWorkDep,
    _: TenantDep,
    after: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=r"^([0-9]{1,19}-[0-9]{1,19})?$",
            description="a `cursor` from an earlier answer; none: the start",
        ),
    ] = None,
    types: Annotated[
        str | None,
        Query(
            max_length=400,
            # Stated for clients and fuzzers; the service's check names the unknown type.
            json_schema_extra={"pattern": TYPES_PATTERN},
            description="comma-separated event types",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
    wait: Annotated[
        int, Query(ge=0, le=service.MAX_WAIT_S, description="long-poll seconds when empty")
    ] = 0,
) -> Response:
    """Your events and the reference events after `after`, oldest first; with `wait`, an
    empty answer waits up to that many seconds for the next one."""
    query = service.FeedQuery(service.parse_cursor(after), service.parse_types(types), limit)
    if wait == 0:
        page = await run_in_threadpool(service.read, uow, query)
        return json_response(_page(page), headers=PRIVATE)
    notifier: EventNotifier = request.app.state.event_notifier
    deadline = time.monotonic() + wait
    with notifier.waiter() as waiter:  # before the first read: a commit meanwhile wakes it
        while True:
            page = await run_in_threadpool(service.read, uow, query)
            left = deadline - time.monotonic()
            if page.events or left <= 0:
                break
            timeout = min(left, HELD_BACK_RECHECK_S) if page.held_back else left
            await notifier.wait(waiter, timeout)
    return json_response(_page(page), headers=PRIVATE)
