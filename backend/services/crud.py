"""Use cases shared by every simple audited resource: create, read, list, patch, delete.

Each is a use case (`@use_case`): called with a unit of work not yet entered, it enters it
(retrying the whole of it where that is safe) and commits before returning, so the caller
answers only after the change is durable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm.interfaces import ORMOption

from backend.core.cache import Caches, QueryCache
from backend.core.errors import NotFound
from backend.core.versioning import ExpectedVersion
from backend.models.base import Base
from backend.repositories.base import Repository
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case

T = TypeVar("T", bound=Base)
V = TypeVar("V")
Selector = Callable[[UnitOfWork], Repository[T]]


@use_case
def create(
    uow: UnitOfWork,
    repo: Selector[T],
    fields: Mapping[str, Any],
    options: Sequence[ORMOption] = (),
) -> T:
    """A new entity of the repository's model from validated `fields`, committed."""
    repository = repo(uow)
    created = repository.add(repository.model_type(**fields))
    if options:
        created = repository.get_one(_ident(created), options=options)
    _invalidate(uow, repository, _ident(created))  # cached pages of its list
    uow.commit()
    return created


@use_case
def get(uow: UnitOfWork, repo: Selector[T], ident: Any, options: Sequence[ORMOption] = ()) -> T:
    """One entity by id (404 when missing), for use cases that go on to work with it."""
    return repo(uow).get_one(ident, options=options)


def cached(uow: UnitOfWork, cache: Callable[[Caches], QueryCache[V]], ident: Any) -> V | None:
    """A cached read model by id without any I/O, or None: not cached, or the caller's key
    must first be re-checked in the database (this worker's invalidation listener is not
    current, so a revocation may not have reached it). Lets an async route answer a hit
    without the threadpool, with the guarantees `read` gives on a hit."""
    caches = uow.caches
    if caches is None or (uow.principal.key_id is not None and not caches.current):
        return None
    return cache(caches).peek(ident)


@use_case
def read(uow: UnitOfWork, repo: Selector[Any], ident: Any) -> Mapping[str, Any]:
    """One resource's columns by id, for answering a GET (404 when missing).

    Reference data (teams, bookmakers) is served from the query cache, which holds these
    read models: no entity is built and, on a hit, no statement is run for it (the unit of
    work still re-checks a tenant key). A cached row is shared: read it, never change it."""
    repository = repo(uow)
    cache = uow.caches.get(repository.cache_name) if uow.caches and repository.cache_name else None

    def load() -> Mapping[str, Any]:
        row = repository.read(ident)
        if row is None:
            raise NotFound(repository.entity_name, ident)
        return row

    if cache is None:
        return load()
    found: Mapping[str, Any] = cache.get_or_load(ident, load)
    return found


@use_case
def update(
    uow: UnitOfWork,
    repo: Selector[T],
    ident: Any,
    changes: Mapping[str, Any],
    expected: ExpectedVersion,
    options: Sequence[ORMOption] = (),
    guard: Callable[[T], None] | None = None,
) -> T:
    """404 first, then the If-Match check against the row read in this transaction."""
    obj = repo(uow).get_one(ident, options=options)
    expected.check(obj.version)  # type: ignore[attr-defined]
    if guard is not None:
        guard(obj)
    repo(uow).update(obj, changes)
    _invalidate(uow, repo(uow), ident)
    uow.commit()
    return obj


@use_case
def delete(
    uow: UnitOfWork,
    repo: Selector[T],
    ident: Any,
    expected: ExpectedVersion,
    guard: Callable[[T], None] | None = None,
) -> None:
    obj = repo(uow).get_one(ident)
    expected.check(obj.version)  # type: ignore[attr-defined]
    if guard is not None:
        guard(obj)
    repo(uow).delete(obj)
    _invalidate(uow, repo(uow), ident)
    uow.commit()


def _invalidate(uow: UnitOfWork, repository: Repository[Any], ident: Any) -> None:
    if repository.cache_name:
        uow.invalidate_after_commit(repository.cache_name, ident)


def _ident(obj: Base) -> Any:
    return obj.__mapper__.primary_key_from_instance(obj)[0]
