"""Generic typed repository: queries, keyset pages and constraint errors as domain errors.

Repositories add, flush and query. They never commit or roll back: the Unit of Work does.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    SmallInteger,
    bindparam,
    func,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.interfaces import ORMOption

from backend.core.errors import (
    NotFound,
)
from backend.core.history import HISTORY_TABLES
from backend.core.prepared import PreparedSQL
from backend.models.base import Base
from backend.repositories.cursor import decode_cursor, encode_cursor
from backend.repositories.errors import Operation, translated
from backend.repositories.pages import Page, PageStatement, View, Where, page_of
from backend.repositories.sql import SqlRepository, driver_params

ModelT = TypeVar("ModelT", bound=Base)


_INT_RANGES = {
    SmallInteger: 2**15,
    Integer: 2**31,
    BigInteger: 2**63,
}


class Repository(SqlRepository, Generic[ModelT]):
    """CRUD and keyset listing for one model. Subclasses set `model_type` and add named queries."""

    model_type: ClassVar[type[Any]]
    entity_name: ClassVar[str] = "resource"
    # The query cache serving `get` by id for this model (reference data), if any.
    cache_name: ClassVar[str | None] = None
    # Constraint name -> message for the domain error raised when it is violated.
    constraint_messages: ClassVar[Mapping[str, str]] = {}
    # The read model `list` pages are built from when the caller names none (None: entities).
    list_view: ClassVar[View | None] = None

    # Per class: the plain by-id SELECT, built once with bound parameters. SQLAlchemy memoizes
    # a statement object's cache key, so reusing it skips building and keying it per call.
    _by_id_statements: ClassVar[dict[type[Any], Select[Any]]] = {}

    def _by_id(self, ident: Any) -> tuple[Select[Any], dict[str, Any]]:
        stmt = Repository._by_id_statements.get(type(self))
        if stmt is None:
            stmt = self.scoped_by_param(select(self.model_type)).where(
                self._pk() == bindparam("ident")
            )
            Repository._by_id_statements[type(self)] = stmt
        return stmt, self.scope_params({"ident": ident})

    # Per class: the plain-SQL by-id read of every column (see `read`), compiled once.
    _read_statements: ClassVar[dict[type[Any], tuple[str, tuple[str, ...]]]] = {}

    def _read_statement(self) -> tuple[str, tuple[str, ...]]:
        found = Repository._read_statements.get(type(self))
        if found is None:
            attrs = self.model_type.__mapper__.column_attrs
            stmt = self.scoped_by_param(
                select(*(getattr(self.model_type, a.key) for a in attrs))
            ).where(self._pk() == bindparam("ident"))
            # Compiled by the engine's dialect: psycopg2's %(name)s parameters, for its cursor.
            sql = self.compiled(stmt)
            found = Repository._read_statements[type(self)] = (sql, tuple(a.key for a in attrs))
        return found

    def read(self, ident: Any) -> dict[str, Any] | None:
        """One row's columns by primary key as {attribute: value}, or None.

        The read model of a single resource: no entity is loaded (no ORM instance, no identity
        map), one plain statement on the unit of work's connection, scoped like `get`. The
        values are the driver's (UUIDs as text, timestamps with their zone); the API's
        schemas validate them into their types. Callers treat the dict as read-only (it may be
        cached and shared)."""
        if not self._valid_ident(ident):
            return None
        sql, keys = self._read_statement()
        row = self._raw(sql, driver_params(self.scope_params({"ident": ident}))).fetchone()
        return None if row is None else dict(zip(keys, row, strict=True))

    def scoped_by_param(self, stmt: Select[Any]) -> Select[Any]:
        """`scoped()` with its values as bound parameters (for statements built once)."""
        return stmt

    def scope_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return params

    # -- statements -------------------------------------------------------------------------

    def scoped(self, stmt: Select[Any]) -> Select[Any]:
        """Hook for repositories that restrict every statement (tenant scoping)."""
        return stmt

    def select(self) -> Select[tuple[ModelT]]:
        return self.scoped(select(self.model_type))

    # The column naming one row, when the primary key has more than one: the history
    # tables' keys hold their partition key too, (id, captured_at), and `id` alone is unique.
    row_key: ClassVar[str | None] = None

    def _pk(self) -> InstrumentedAttribute[Any]:
        if self.row_key is not None:
            named: InstrumentedAttribute[Any] = getattr(self.model_type, self.row_key)
            return named
        pk = self.model_type.__mapper__.primary_key
        assert len(pk) == 1, "Repository supports single-column primary keys"
        attr: InstrumentedAttribute[Any] = getattr(self.model_type, pk[0].key)
        return attr

    # Per class: what a valid primary key value is (see `_valid_ident`).
    _ident_rules: ClassVar[dict[type[Any], tuple[int | None, bool]]] = {}

    def _valid_ident(self, ident: Any) -> bool:
        """Ids the column cannot hold (2**70, a non-UUID) name no row: not found, not a DB error."""
        rule = Repository._ident_rules.get(type(self))
        if rule is None:
            column = self.model_type.__mapper__.primary_key[0]
            bound = next((b for t, b in _INT_RANGES.items() if type(column.type) is t), None)
            rule = (bound, column.type.python_type is uuid.UUID)
            Repository._ident_rules[type(self)] = rule
        bound, is_uuid = rule
        if bound is not None:
            return isinstance(ident, int) and -bound <= ident < bound
        if is_uuid:
            return isinstance(ident, uuid.UUID)
        return True

    # -- reads ------------------------------------------------------------------------------

    def get(
        self,
        ident: Any,
        *,
        options: Sequence[ORMOption] = (),
        for_update: bool = False,
        refresh: bool = False,
    ) -> ModelT | None:
        """The row with this primary key, or None. `refresh` re-reads an already loaded row
        (after a set-based UPDATE changed it behind the identity map)."""
        if not self._valid_ident(ident):
            return None
        if not (options or for_update or refresh):
            by_id, params = self._by_id(ident)
            found: ModelT | None = self.session.scalars(by_id, params).one_or_none()
            return found
        stmt = self.select().where(self._pk() == ident).options(*options)
        if for_update:
            stmt = stmt.with_for_update(of=self.model_type)
        if refresh:
            stmt = stmt.execution_options(populate_existing=True)
        return self.session.scalars(stmt).one_or_none()

    def get_one(
        self,
        ident: Any,
        *,
        options: Sequence[ORMOption] = (),
        for_update: bool = False,
        refresh: bool = False,
    ) -> ModelT:
        """The row with this primary key; raises `NotFound`."""
        obj = self.get(ident, options=options, for_update=for_update, refresh=refresh)
        if obj is None:
            raise NotFound(self.entity_name, ident)
        return obj

    def list(
        self,
        *,
        where: Sequence[Where] = (),
        order_by: Sequence[InstrumentedAttribute[Any]] = (),
        cursor: str | None = None,
        limit: int = 50,
        include_total: bool = False,
        view: View | None = None,
    ) -> Page[Any]:
        """One keyset page, ascending on `order_by` plus the primary key as the tiebreaker:
        the read model's rows (`view`, else the repository's `list_view`) or, for a repository
        without one, entities.

        One statement per page. Each shape of page (view, order keys, filters, first page or
        after a cursor) is built and compiled once; its filters' values, limit and cursor are
        bound as parameters, and a read model's page runs on the DBAPI cursor (rows as
        tuples, no ORM)."""
        view = view if view is not None else self.list_view
        pk = self._pk()
        keys = [*order_by]
        if not keys or keys[-1] is not pk:
            keys.append(pk)
        scope = f"{self.model_type.__tablename__}:{','.join(k.key for k in keys)}"
        after = None
        if cursor is not None:
            types = [k.property.columns[0].type.python_type for k in keys]
            after = decode_cursor(scope, cursor, types)
        if any(w.matches_nothing for w in where):
            total = 0 if include_total else None
            return Page(items=[], next_cursor=None, total=total, plain=view is not None)
        page = self._page_statement(view, tuple(keys), after is not None, tuple(where))
        params = self.scope_params({"page_limit": limit + 1})
        for i, condition in enumerate(where):
            params[f"where_{i}"] = condition.bound()
        for i, value in enumerate(after or ()):
            params[f"after_{i}"] = value
        total = None
        if include_total:
            # On the unit's connection, like the page: no ORM session for a count.
            total = int(self.connection().execute(page.count, params).scalar_one())
        rows: list[Any]
        if view is not None:
            rows = self._raw(page.sql, driver_params(params)).fetchall()
        else:
            rows = list(self.session.scalars(page.statement, params).unique())

        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            values = (
                [getattr(last, k.key) for k in keys]
                if view is None
                else [last[i] for i in page.key_positions]
            )
            next_cursor = encode_cursor(scope, values)
        items = rows if view is None else [view.build(row) for row in rows]
        return Page(items=items, next_cursor=next_cursor, total=total, plain=view is not None)

    # Per (class, view, order keys, with cursor, filter shapes): the page statement.
    _page_statements: ClassVar[dict[tuple[Any, ...], PageStatement]] = {}

    def _page_statement(
        self,
        view: View | None,
        keys: tuple[InstrumentedAttribute[Any], ...],
        after: bool,
        where: tuple[Where, ...],
    ) -> PageStatement:
        # Views are class-level constants: their id is stable for the life of the process.
        memo_key = (
            type(self),
            id(view),
            tuple(k.key for k in keys),
            after,
            tuple(w.shape for w in where),
        )
        found = Repository._page_statements.get(memo_key)
        if found is not None:
            return found
        filtered = self.scoped_by_param(select(self.model_type)).where(
            *(w.clause(f"where_{i}") for i, w in enumerate(where))
        )
        bound = [bindparam(f"after_{i}", type_=k.type) for i, k in enumerate(keys)]
        stmt = page_of(
            filtered, keys, bound if after else None, view, bindparam("page_limit", type_=Integer)
        )
        count = select(func.count()).select_from(filtered.subquery())
        names = list(stmt.selected_columns.keys())
        positions = tuple(names.index(k.key) for k in keys) if view is not None else ()
        # Prepared per connection (planned once, not per page), on its generic plan for the
        # partitioned history tables (see PreparedSQL). Named by its text: two threads that
        # build page statements at once can never give different statements one name (a
        # connection would then EXECUTE the other one's).
        text = self.compiled(stmt)
        sql = PreparedSQL(
            f"oddsdesk_page_{hashlib.sha256(text.encode()).hexdigest()[:24]}",
            text,
            generic=self.model_type.__tablename__ in HISTORY_TABLES,
        )
        found = PageStatement(stmt, sql, positions, count)
        Repository._page_statements[memo_key] = found
        return found

    def _count_stmt(self, stmt: Select[Any]) -> int:
        count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
        return int(self.session.scalar(count_stmt) or 0)

    def count(self, *filters: ColumnElement[bool]) -> int:
        return self._count_stmt(self.select().where(*filters))

    def exists(self, *filters: ColumnElement[bool]) -> bool:
        stmt = select(self.select().where(*filters).exists())
        return bool(self.session.scalar(stmt))

    # -- writes -----------------------------------------------------------------------------

    def add(self, obj: ModelT) -> ModelT:
        """Insert and flush, so constraint errors surface here as domain errors."""
        self.session.add(obj)
        with self.translate_errors("insert"):
            self.session.flush()
        return obj

    def add_many(self, objs: Iterable[ModelT]) -> Sequence[ModelT]:
        items = list(objs)
        self.session.add_all(items)
        with self.translate_errors("insert"):
            self.session.flush()
        return items

    def update(self, obj: ModelT, values: Mapping[str, Any]) -> ModelT:
        """Set attributes and flush; an UPDATE is issued only when a value really changed."""
        for key, value in values.items():
            setattr(obj, key, value)
        with self.translate_errors("update"):
            self.session.flush()
        return obj

    def delete(self, obj: ModelT) -> None:
        self.session.delete(obj)
        with self.translate_errors("delete"):
            self.session.flush()

    def translate_errors(self, operation: Operation) -> AbstractContextManager[None]:
        """IntegrityError by SQLSTATE and constraint name -> domain error (see errors.py)."""
        return translated(self.entity_name, self.constraint_messages, operation)
