"""How the Unit of Work offers its repositories: each one a descriptor on `UnitOfWork`, built
the first time a use case of the open unit asks for it (most requests use one or two).

`plain(Repo)` builds a repository on the unit (or its session); `tenant(Repo)` one bound to
the principal's tenant, and refuses any other principal (`NotATenant`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from backend.repositories.sql import SqlRepository

if TYPE_CHECKING:
    from backend.repositories.unit_of_work import UnitOfWork

R = TypeVar("R")


class NotATenant(RuntimeError):
    """Tenant-scoped repositories exist only in a tenant principal's unit of work."""


class UnitRepository(Generic[R]):
    """A repository of the open unit of work, built the first time a use case asks for it
    (most requests use one or two of them)."""

    def __init__(self, build: Callable[[UnitOfWork], R]) -> None:
        self._build = build
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, uow: None, owner: type) -> Self: ...
    @overload
    def __get__(self, uow: UnitOfWork, owner: type) -> R: ...
    def __get__(self, uow: UnitOfWork | None, owner: type) -> R | Self:
        if uow is None:
            return self
        built: dict[str, Any] = uow.built_repositories
        repo: R | None = built.get(self._name)
        if repo is None:
            if not uow.is_open:
                raise RuntimeError("UnitOfWork is not open: use `with uow:`")
            repo = built[self._name] = self._build(uow)
        return repo


def plain(cls: Callable[[Any], R]) -> UnitRepository[R]:
    lazy = isinstance(cls, type) and issubclass(cls, SqlRepository)

    def build(uow: UnitOfWork) -> R:
        # SqlRepository subclasses take the unit itself: its session (or connection) opens
        # only when a statement needs it.
        return cls(uow if lazy else uow.session)

    return UnitRepository(build)


def tenant(cls: Callable[[Any, uuid.UUID], R]) -> UnitRepository[R]:
    def build(uow: UnitOfWork) -> R:
        tenant_id = uow.principal.tenant_id
        if tenant_id is None:
            raise NotATenant(f"{uow.principal.actor} is not a tenant")
        return cls(uow, tenant_id)

    return UnitRepository(build)
