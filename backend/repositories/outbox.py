"""The events outbox: which committed change announces which domain event, and the rows that
carry them, written by the audit buffer in the same statements' round trip as the audit rows
(so an accepted change never lacks its event and a rolled-back one leaves none).

Events are derived from the audit entries, one rule for every writer (ORM flushes and
set-based statements alike): a bet's `create` / `settle` / `void`, a strategy's `create`,
`kill`, `resume` and any other change but a bare bankroll movement (a bet or a settlement
moved it: that bet's event says so), a match's change to `finished` or `cancelled`. Events no
audited entity carries (an odds batch) are announced by their service (`OutboxEvent`).
The payload is the entity's id, the new value of every audited field the change set, and
what the writer adds as `subject` (a settled bet's strategy and match).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from backend.core.row_inserts import MultiRowInsert, Statement

# A request's usual few events (a bet: one) are prepared: see core/row_inserts.py.
_INSERT_EVENTS = MultiRowInsert(
    "oddsdesk_events_insert",
    "INSERT INTO events (tenant_id, type, entity_type, entity_id, payload, request_id) VALUES ",
    "(%s::uuid, %s, %s, %s, %s::jsonb, %s)",
    prepared_up_to=2,
)
# A strategy change that is only its bankroll moving is part of a bet's or a settlement's event.
_BANKROLL_ONLY = frozenset({"bankroll"})
_NAMED = {
    ("bet", "create"): "bet.placed",
    ("bet", "settle"): "bet.settled",
    ("bet", "void"): "bet.voided",
    ("strategy", "create"): "strategy.created",
    ("strategy", "kill"): "strategy.killed",
    ("strategy", "resume"): "strategy.resumed",
    ("strategy", "pause"): "strategy.updated",
}
_MATCH_STATUS = {"finished": "match.result", "cancelled": "match.cancelled"}


@dataclass(frozen=True)
class OutboxEvent:
    type: str
    entity_type: str
    entity_id: str
    tenant_id: uuid.UUID | None  # None: a reference event, seen by every tenant
    payload: dict[str, Any] = field(default_factory=dict)


def event_type(entity_type: str, action: str, changes: Mapping[str, list[Any]]) -> str | None:
    """The event a change of an audited entity announces (None: it announces none)."""
    named = _NAMED.get((entity_type, action))
    if named is not None:
        return named
    if entity_type == "strategy" and action == "update":
        return "strategy.updated" if set(changes) - _BANKROLL_ONLY else None
    if entity_type == "match" and action == "update" and "status" in changes:
        return _MATCH_STATUS.get(changes["status"][1])
    return None


def derived_event(
    entity_type: str,
    entity_id: str,
    tenant_id: uuid.UUID | None,
    action: str,
    changes: Mapping[str, list[Any]],
    subject: Mapping[str, Any],
) -> OutboxEvent | None:
    kind = event_type(entity_type, action, changes)
    if kind is None:
        return None
    payload = {"id": entity_id, **{k: new for k, (_, new) in changes.items()}, **subject}
    return OutboxEvent(kind, entity_type, entity_id, tenant_id, payload)


def insert_statements(events: list[OutboxEvent], request_id: str | None) -> list[Statement]:
    """The events as multi-row INSERTs."""
    rows = [
        (
            str(e.tenant_id) if e.tenant_id else None,
            e.type,
            e.entity_type,
            e.entity_id,
            orjson.dumps(e.payload).decode(),
            request_id,
        )
        for e in events
    ]
    return _INSERT_EVENTS.statements(rows)
