"""Audit trail written by the Unit of Work: session hooks collect diffs, commit writes them.

No route or service writes audit rows: the flush hooks see every ORM change of an audited
model, and set-based statements report theirs through `AuditBuffer.record`. The buffer keeps
one entry per entity for the whole unit of work, so an entity changed by several flushes still
gets exactly one row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from backend.core.prepared import PreparedSQL
from backend.core.transaction import raw_execute, stage
from backend.core.unit_session import UnitSession
from backend.models.base import AUDIT_IGNORED_FIELDS, Base, TenantMixin
from backend.repositories.base import SessionSource

_INSERT_AUDIT = (
    "INSERT INTO audit_log (tenant_id, actor, action, entity_type, entity_id, changes, "
    "change_reason, request_id) VALUES "
)
_AUDIT_ROW = "(%s::uuid, %s, %s, %s, %s, %s::jsonb, %s, %s)"
_ROWS_PER_STATEMENT = 1000
# The usual few rows of one request (a bet writes two) as statements prepared once per
# connection; bigger batches (settlement, imports) are sent as text.
_PREPARED_INSERTS = {
    rows: PreparedSQL(
        f"oddsdesk_audit_insert_{rows}", _INSERT_AUDIT + ", ".join([_AUDIT_ROW] * rows)
    )
    for rows in range(1, 5)
}


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
    than the entity (AUDIT_IGNORED_FIELDS), in the table's order."""
    found = _audited_columns.get(model)
    if found is None:
        keys = (a.key for a in inspect(model).column_attrs)
        found = _audited_columns[model] = tuple(k for k in keys if k not in AUDIT_IGNORED_FIELDS)
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

    @classmethod
    def created(
        cls, entity_type: str, entity_id: str, tenant_id: uuid.UUID | None, values: dict[str, Any]
    ) -> AuditEntry:
        """A `create` entry: every given field goes from nothing to its value."""
        changes = {k: [None, jsonable(v)] for k, v in values.items()}
        return cls("create", entity_type, entity_id, tenant_id, changes)

    def merge(self, later: AuditEntry) -> None:
        """Fold a later change of the same entity into this one: first old value, last new."""
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
        # Actions a service names for an entity (kill, resume, settle, void) instead of update.
        self._hints: dict[int, str] = {}

    def hint(self, obj: Base, action: str) -> None:
        self._hints[id(obj)] = action

    def record(self, entry: AuditEntry) -> None:
        key = (entry.entity_type, entry.entity_id)
        existing = self._entries.get(key)
        if existing is None:
            self._entries[key] = entry
        else:
            existing.merge(entry)

    def snapshot(self) -> dict[tuple[str, str], AuditEntry]:
        """The entries so far, copied (later merges change entries in place)."""
        return {
            key: replace(e, changes={k: list(v) for k, v in e.changes.items()})
            for key, e in self._entries.items()
        }

    def restore(self, snapshot: dict[tuple[str, str], AuditEntry]) -> None:
        """Back to a snapshot: the changes recorded since were rolled back."""
        self._entries = snapshot

    def pending(self) -> list[AuditEntry]:
        return [e for e in self._entries.values() if not e.empty]

    def _statements(self) -> list[tuple[str | PreparedSQL, list[Any]]]:
        """The pending entries as plain multi-row INSERTs (1,000 rows per statement)."""
        entries = self.pending()
        ctx = self.context
        statements = []
        for start in range(0, len(entries), _ROWS_PER_STATEMENT):
            chunk = entries[start : start + _ROWS_PER_STATEMENT]
            params: list[Any] = []
            for e in chunk:
                params += (
                    str(e.tenant_id) if e.tenant_id else None,
                    ctx.actor,
                    e.action,
                    e.entity_type,
                    e.entity_id,
                    orjson.dumps(e.changes).decode(),
                    ctx.change_reason,
                    ctx.request_id,
                )
            prepared = _PREPARED_INSERTS.get(len(chunk))
            statement = prepared or _INSERT_AUDIT + ", ".join([_AUDIT_ROW] * len(chunk))
            statements.append((statement, params))
        return statements

    def write(self, conn: Connection) -> int:
        """Insert every pending entry (audit rows are never loaded back, and this runs on
        every write: plain SQL on the transaction's cursor); returns how many were written."""
        written = len(self.pending())
        for statement, params in self._statements():
            raw_execute(conn, statement, params).close()
        self._entries.clear()
        return written

    def stage(self, conn: Connection) -> int:
        """Send the pending entries with the transaction's next statement, in its round trip
        (see `database.add_to_preamble`); returns how many. For a use case whose last
        statement is known to follow: its audit rows then cost no round trip of their own."""
        staged = len(self.pending())
        for statement, params in self._statements():
            stage(conn, statement, params)
        self._entries.clear()
        return staged

    def discard(self) -> None:
        self._entries.clear()
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


def _audited(objs: Iterable[object]) -> list[Base]:
    return [o for o in objs if isinstance(o, Base) and o.__audit_entity__ is not None]


def _entity_id(obj: Base) -> str:
    ident = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(v) for v in ident)


def _column_diff(obj: Base, created: bool) -> dict[str, list[Any]]:
    state = inspect(obj)
    model = state.mapper.class_
    if created:
        values = {}
        for key in audited_columns(model):
            hist = state.attrs[key].history
            values[key] = hist.added[0] if hist.added else state.dict.get(key)
        return audited_values(model, values)
    old, new = {}, {}
    for key in audited_columns(model):
        hist = state.attrs[key].history
        if hist.has_changes():
            old[key] = hist.deleted[0] if hist.deleted else None
            new[key] = hist.added[0] if hist.added else None
    return audited_changes(model, old, new)


def _snapshot(obj: Base) -> dict[str, list[Any]]:
    state = inspect(obj)
    return audited_snapshot(state.mapper.class_, state.dict)


@event.listens_for(Session, "before_flush")
def _stamp_actor(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    """Fill created_by / updated_by / change_reason on audited rows before they are written."""
    touched = _audited(session.new) + _audited(session.dirty) + _audited(session.deleted)
    if not touched:
        return
    buffer = session.audit if isinstance(session, UnitSession) else None
    if buffer is None:
        raise AuditedWithoutUnitOfWork("audited entities can only be written inside a UnitOfWork")
    ctx = buffer.context
    for obj in _audited(session.new):
        obj.created_by = ctx.actor  # type: ignore[attr-defined]
        obj.updated_by = ctx.actor  # type: ignore[attr-defined]
        obj.change_reason = ctx.change_reason  # type: ignore[attr-defined]
    for obj in _audited(session.dirty):
        if session.is_modified(obj, include_collections=False):
            obj.updated_by = ctx.actor  # type: ignore[attr-defined]
            obj.change_reason = ctx.change_reason  # type: ignore[attr-defined]


@event.listens_for(Session, "after_flush")
def _collect_changes(session: Session, flush_context: UOWTransaction) -> None:
    """Turn this flush's inserts, updates and deletes into audit entries (ids are known now)."""
    buffer = session.audit if isinstance(session, UnitSession) else None
    if buffer is None:
        return
    for obj in _audited(session.new):
        buffer.record(_entry(obj, "create", _column_diff(obj, created=True)))
    for obj in _audited(session.dirty):
        diff = _column_diff(obj, created=False)
        action = buffer._hints.get(id(obj), "update")
        if diff or action != "update":
            buffer.record(_entry(obj, action, diff))
    for obj in _audited(session.deleted):
        buffer.record(_entry(obj, "delete", _snapshot(obj)))


def _entry(obj: Base, action: str, changes: dict[str, list[Any]]) -> AuditEntry:
    # Only tenant-owned rows are audited under a tenant; reference data, tenants and keys are not.
    tenant_id = obj.tenant_id if isinstance(obj, TenantMixin) else None
    entity_type = obj.__audit_entity__
    assert entity_type is not None
    return AuditEntry(
        action=action,
        entity_type=entity_type,
        entity_id=_entity_id(obj),
        tenant_id=tenant_id,
        changes=changes,
    )
