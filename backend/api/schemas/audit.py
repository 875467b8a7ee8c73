from __future__ import annotations

import uuid
from typing import Any, Literal

from backend.api.schemas.common import OutputModel, UtcDatetime

EntityType = Literal[
    "team", "bookmaker", "match", "tenant", "api_key", "strategy", "bet", "webhook_endpoint"
]
Action = Literal["create", "update", "delete", "kill", "pause", "resume", "settle", "void"]


class AuditRead(OutputModel):
    id: uuid.UUID
    occurred_at: UtcDatetime
    actor: str
    action: Action
    entity_type: EntityType
    entity_id: str
    changes: dict[str, list[Any]]
    change_reason: str | None
    request_id: str | None
