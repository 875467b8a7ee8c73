"""The flush hooks of every Session: fill who created or changed an audited row, and turn
each flush's inserts, updates and deletes of audited entities into entries of the unit of
work's buffer (repositories/audit.py). Installed once, by the Unit of Work's module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from backend.core.unit_session import UnitSession
from backend.models.base import Base, TenantMixin
from backend.repositories.audit import (
    AuditedWithoutUnitOfWork,
    AuditEntry,
    audited_changes,
    audited_columns,
    audited_snapshot,
    audited_values,
)


def install_audit_hooks() -> None:
    """Register the hooks on every Session (once, however often it is called)."""
    for name, hook in (("before_flush", _stamp_actor), ("after_flush", _collect_changes)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


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


def _collect_changes(session: Session, flush_context: UOWTransaction) -> None:
    """Turn this flush's inserts, updates and deletes into audit entries (ids are known now)."""
    buffer = session.audit if isinstance(session, UnitSession) else None
    if buffer is None:
        return
    for obj in _audited(session.new):
        buffer.record(_entry(obj, "create", _column_diff(obj, created=True)))
    for obj in _audited(session.dirty):
        diff = _column_diff(obj, created=False)
        action = buffer.action_for(obj)
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
