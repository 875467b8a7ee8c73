"""Tenant-scoped repositories: every statement carries the tenant, every insert sets it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam
from sqlalchemy.orm import Session

from backend.repositories.base import ModelT, Repository
from backend.repositories.sql import SessionSource


class TenantRepository(Repository[ModelT]):
    """A repository bound to one tenant: every statement it builds carries the tenant filter,
    and every row it inserts gets the tenant. Row-level security backs this up underneath."""

    def __init__(self, session: Session | SessionSource, tenant_id: uuid.UUID) -> None:
        super().__init__(session)
        self.tenant_id = tenant_id

    @property
    def owned(self) -> ColumnElement[bool]:
        """The tenant criterion, for bulk statements (UPDATE/DELETE) the repository issues."""
        criterion: ColumnElement[bool] = self.model_type.tenant_id == self.tenant_id
        return criterion

    def scoped(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(self.owned)

    def scoped_by_param(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.where(self.model_type.tenant_id == bindparam("scope_tenant_id"))

    def scope_params(self, params: dict[str, Any]) -> dict[str, Any]:
        params["scope_tenant_id"] = self.tenant_id
        return params

    def add(self, obj: ModelT) -> ModelT:
        obj.tenant_id = self.tenant_id  # type: ignore[attr-defined]
        return super().add(obj)

    def add_many(self, objs: Iterable[ModelT]) -> Sequence[ModelT]:
        items = list(objs)
        for obj in items:
            obj.tenant_id = self.tenant_id  # type: ignore[attr-defined]
        return super().add_many(items)
