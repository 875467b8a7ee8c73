"""Audit trail written by the Unit of Work: its entries, the rule for which columns they
record, and the buffer that writes them at commit.

No route or service writes audit rows: the flush hooks (audit_hooks.py) see every ORM change
of an audited model, and set-based statements report theirs through `AuditBuffer.record`.
The buffer keeps one entry per entity for the whole unit of work, so an entity changed by
several flushes still gets exactly one row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, inspect
from sqlalchemy.orm import Session

from backend.core.plain_sql import raw_execute, stage
from backend.core.row_inserts import MultiRowInsert, Statement
from backend.core.unit_session import UnitSession
from backend.models.base import AUDIT_IGNORED_FIELDS, Base
from backend.repositories.outbox import OutboxEvent, derived_event, insert_statements
from backend.repositories.sql import SessionSource

# A request's usual few rows (a bet writes two) are prepared: see core/row_inserts.py.
_INSERT_AUDIT = MultiRowInsert(
    "oddsdesk_audit_insert",
    "INSERT INTO audit_log (tenant_id, actor, action, entity_type, entity_id, changes, "
    "change_reason, request_id) VALUES ",
    "(%s::uuid, %s, %s, %s, %s, %s::jsonb, %s, %s)",
    prepared_up_to=4,
)


def jsonable(value: Any) -> Any:
    """A column's value as the audit log's JSON holds it."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


# -- which columns are audited: one rule for the flush hooks and the set-based writers --------

_audited_columns: dict[type[Any], tuple[str, ...]] = {}


def audited_columns(model: type[Base]) -> tuple[str, ...]:
    """The model's columns an audit entry records: all but those describing a change rather
    than the entity (AUDIT_IGNORED_FIELDS) and the model's secrets (`__audit_excluded__`), in
    the table's order."""
    found = _audited_columns.get(model)
    if found is None:
        skip = AUDIT_IGNORED_FIELDS | model.__audit_excluded__
        keys = (a.key for a in inspect(model).column_attrs)
        found = _audited_columns[model] = tuple(k for k in keys if k not in skip)
    return found


def audited_values(model: type[Base], values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A created entity's changes: each audited column that has a value, from nothing to it
    (`values` may hold more keys than columns; those are ignored)."""
    return {
        k: [None, jsonable(values[k])] for k in audited_columns(model) if values.get(k) is not None
    }


def audited_changes(
    model: type[Base], old: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """A changed entity's changes: each audited column in `new` whose value differs from its
    value in `old` (a column missing from `old` was NULL)."""
    return {
        k: [jsonable(old.get(k)), jsonable(new[k])]
        for k in audited_columns(model)
        if k in new and old.get(k) != new[k]
    }


def audited_snapshot(model: type[Base], values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A deleted entity's changes: every audited column, from its value to nothing."""
    return {k: [jsonable(values.get(k)), None] for k in audited_columns(model)}


@dataclass
class AuditEntry:
    action: str
    entity_type: str
    entity_id: str
    tenant_id: uuid.UUID | None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    # Not audited: what the entity's event adds to its payload (a settled bet's strategy).
    subject: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def created(
        cls, entity_type: str, entity_id: str, tenant_id: uuid.UUID | None, values: dict[str, Any]
    ) -> AuditEntry:
        """A `create` entry: every given field goes from nothing to its value."""
        changes = {k: [None, jsonable(v)] for k, v in values.items()}
        return cls("create", entity_type, entity_id, tenant_id, changes)

    def merge(self, later: AuditEntry) -> None:
        """Fold a later change of the same entity into this one: first old value, last new."""
        self.subject.update(later.subject)
        for name, (old, new) in later.changes.items():
            if name in self.changes:
                self.changes[name][1] = new
            else:
                self.changes[name] = [old, new]
        if later.action == "delete" or self.action == "update":
            # create stays create; a named action (kill, settle) wins over a plain update.
            self.action = later.action
        if self.action == "update":
            self.changes = {k: v for k, v in self.changes.items() if v[0] != v[1]}

    @property
    def empty(self) -> bool:
        return self.action == "update" and not self.changes

    def event(self) -> OutboxEvent | None:
        """The domain event this change announces, if any (repositories/outbox.py)."""
        return derived_event(
            self.entity_type,
            self.entity_id,
            self.tenant_id,
            self.action,
            self.changes,
            self.subject,
        )


@dataclass
class AuditContext:
    actor: str
    tenant_id: uuid.UUID | None
    request_id: str | None
    change_reason: str | None


class AuditBuffer:
    """Audit entries of one unit of work, keyed by entity; written once, at commit."""

    def __init__(self, context: AuditContext) -> None:
        self.context = context
        self._entries: dict[tuple[str, str], AuditEntry] = {}
        self._announced: list[OutboxEvent] = []  # events no audit entry carries
        # Actions a service names for an entity (kill, resume, settle, void) instead of update.
        self._hints: dict[int, str] = {}

    def hint(self, obj: Base, action: str) -> None:
        self._hints[id(obj)] = action

    def action_for(self, obj: Base) -> str:
        """The action a change of `obj` is audited as: the one named for it, else update."""
        return self._hints.get(id(obj), "update")

    def record(self, entry: AuditEntry) -> None:
        key = (entry.entity_type, entry.entity_id)
        existing = self._entries.get(key)
        if existing is None:
            self._entries[key] = entry
        else:
            existing.merge(entry)

    def announce(self, event: OutboxEvent) -> None:
        """An event no audited entity carries (an odds batch), written with the audit rows."""
        self._announced.append(event)

    def snapshot(self) -> tuple[dict[tuple[str, str], AuditEntry], int]:
        """The entries so far, copied (later merges change entries in place)."""
        entries = {
            key: replace(
                e, changes={k: list(v) for k, v in e.changes.items()}, subject=dict(e.subject)
            )
            for key, e in self._entries.items()
        }
        return entries, len(self._announced)

    def restore(self, snapshot: tuple[dict[tuple[str, str], AuditEntry], int]) -> None:
        """Back to a snapshot: the changes recorded since were rolled back."""
        self._entries, announced = snapshot
        del self._announced[announced:]

    def pending(self) -> list[AuditEntry]:
        return [e for e in self._entries.values() if not e.empty]

    @property
    def dirty(self) -> bool:
        """Audit rows or events to write."""
        return bool(self._announced) or bool(self.pending())

    def events(self, entries: list[AuditEntry] | None = None) -> list[OutboxEvent]:
        """The events of the pending entries (or of `entries`), then the announced ones."""
        derived = (e.event() for e in (self.pending() if entries is None else entries))
        return [e for e in derived if e is not None] + self._announced

    def _statements(self) -> list[Statement]:
        """The pending entries' audit rows, then their events, as multi-row INSERTs."""
        entries = self.pending()
        ctx = self.context
        rows = [
            (
                str(e.tenant_id) if e.tenant_id else None,
                ctx.actor,
                e.action,
                e.entity_type,
                e.entity_id,
                orjson.dumps(e.changes).decode(),
                ctx.change_reason,
                ctx.request_id,
            )
            for e in entries
        ]
        return _INSERT_AUDIT.statements(rows) + insert_statements(
            self.events(entries), ctx.request_id
        )

    def write(self, conn: Connection) -> int:
        """Insert every pending entry (audit rows are never loaded back, and this runs on
        every write: plain SQL on the transaction's cursor); returns how many were written."""
        written = len(self.pending())
        for statement, params in self._statements():
            raw_execute(conn, statement, params).close()
        self._entries.clear()
        self._announced.clear()
        return written

    def stage(self, conn: Connection) -> int:
        """Send the pending entries with the transaction's next statement, in its round trip
        (see `preamble.add_to_preamble`); returns how many. For a use case whose last
        statement is known to follow: its audit rows then cost no round trip of their own."""
        staged = len(self.pending())
        for statement, params in self._statements():
            stage(conn, statement, params)
        self._entries.clear()
        self._announced.clear()
        return staged

    def discard(self) -> None:
        self._entries.clear()
        self._announced.clear()
        self._hints.clear()


class AuditedWithoutUnitOfWork(RuntimeError):
    pass


def audit_buffer(source: Session | SessionSource) -> AuditBuffer:
    """The unit of work's buffer, where set-based statements report the entities they changed
    (`source`: a unit of work's session, or the unit itself)."""
    buffer: AuditBuffer | None = (
        source.audit
        if isinstance(source, UnitSession)
        else None
        if isinstance(source, Session)
        else getattr(source, "audit", None)
    )
    if buffer is None:
        raise AuditedWithoutUnitOfWork("audited changes can only be made inside a UnitOfWork")
    return buffer
