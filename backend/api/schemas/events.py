from __future__ import annotations

from typing import Any

from backend.api.schemas.common import OutputModel, UtcDatetime


class EventRead(OutputModel):
    id: int
    type: str
    entity_type: str
    entity_id: str
    occurred_at: UtcDatetime
    payload: dict[str, Any]
    request_id: str | None
    cursor: str  # resume after this event with `after=<cursor>`


class EventPage(OutputModel):
    items: list[EventRead]
    cursor: str  # resume after the last item (the request's own position when empty)
