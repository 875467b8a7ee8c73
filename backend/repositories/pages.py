"""Keyset pages: what a page holds, the read models lists are built from, and the statement
that selects a page after a cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Numeric,
    Select,
    SmallInteger,
    Text,
    Uuid,
    bindparam,
    cast,
    or_,
    tuple_,
)

from backend.core.prepared import PreparedSQL

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None
    total: int | None = None
    # Items are a read model's plain dicts (JSON-ready values), not entities.
    plain: bool = False


@dataclass(frozen=True)
class View:
    """A read model for lists: plain columns (no ORM entities) shaped by `build`.

    Loading an entity costs the ORM far more than reading its columns; a page of matches with
    both teams is 150 entities. `columns` must include the listing's order keys under their
    attribute names (the cursor is read from them); `joins` are (target, on clause) pairs.
    """

    columns: tuple[Any, ...]
    joins: tuple[tuple[Any, Any], ...]
    build: Any  # Callable[[Row], object]

    @classmethod
    def of(cls, model: type[Any], names: Sequence[str]) -> View:
        """A flat read model: these columns of `model`, each row a dict under their names
        (what the resource's response schema lists, in its order)."""
        keys = tuple(names)
        return cls(
            columns=tuple(as_json_text(getattr(model, name)) for name in keys),
            joins=(),
            build=lambda row: dict(zip(keys, row, strict=True)),
        )


def as_json_text(column: Any) -> Any:
    """A uuid or numeric column as PostgreSQL's text of it, under the column's name: the JSON
    answers write both as strings, and PostgreSQL's canonical text is that string (`str()` of
    the `UUID` or `Decimal` the driver would otherwise build per value, at a cost of about a
    microsecond each: a page of 50 bets holds 400). A cursor taken from such a row encodes
    the same text."""
    if isinstance(column.type, Uuid) or (
        isinstance(column.type, Numeric) and not isinstance(column.type, Float)
    ):
        return cast(column, Text).label(column.key)
    return column


@dataclass(frozen=True)
class PageStatement:
    statement: Select[Any]
    sql: PreparedSQL  # the same, compiled for the psycopg2 cursor (%(name)s parameters)
    key_positions: tuple[int, ...]  # where the order keys are in a read model's row
    count: Select[Any]  # the count of all rows the filters match (include_total)


def page_of(
    stmt: Select[Any],
    keys: Sequence[Any],
    after: Sequence[Any] | None,
    view: View | None,
    limit: Any,
) -> Select[Any]:
    """A keyset page on top of `stmt`: rows after the cursor, a view's columns and joins,
    ordered by the keys, limited. Cursor values and limit may be values or bound parameters."""
    if after is not None:
        # The row comparison is the cursor; the bound on its first key alone is implied by it
        # and is what the planner can prune partitions with (the history tables' first key is
        # their partition key) and start an index range at.
        stmt = stmt.where(keys[0] >= after[0], tuple_(*keys) > tuple_(*after))
    if view is not None:
        stmt = stmt.with_only_columns(*view.columns, maintain_column_froms=True)
        for target, onclause in view.joins:
            stmt = stmt.join(target, onclause)
    return stmt.order_by(*keys).limit(limit)


Op = Literal["eq", "ge", "lt", "contains", "null"]
# PostgreSQL's integer types by SQLAlchemy's (subclasses before Integer, their base).
_INTEGER_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))


@dataclass(frozen=True)
class Where:
    """One filter of a listing as a typed value: `column <op> value` (`either`: a second
    column, matched by the same value: home or away team). Values are bound parameters, so
    each combination of filters (its `shape`) is one statement, built and compiled once."""

    column: Any  # InstrumentedAttribute
    value: Any = None
    op: Op = "eq"
    either: Any = None

    @property
    def shape(self) -> tuple[str, str, str | None]:
        return (self.column.key, self.op, None if self.either is None else self.either.key)

    def clause(self, name: str) -> ColumnElement[bool]:
        if self.op == "null":
            return self.column.is_(None)  # type: ignore[no-any-return]
        param = bindparam(name, type_=self.column.type)
        if self.op == "contains":
            return self.column.ilike(param, escape="/")  # type: ignore[no-any-return]
        if self.op == "ge":
            return self.column >= param  # type: ignore[no-any-return]
        if self.op == "lt":
            return self.column < param  # type: ignore[no-any-return]
        if self.either is not None:
            return or_(self.column == param, self.either == param)
        return self.column == param  # type: ignore[no-any-return]

    @property
    def matches_nothing(self) -> bool:
        """An equality on an integer column with a value the column cannot hold (an id past
        PostgreSQL's `integer`, say): no row can match, and PostgreSQL, binding the value as
        the column's type in a prepared statement, would refuse it."""
        value = self.value
        if self.op != "eq" or not isinstance(value, int) or isinstance(value, bool):
            return False
        for kind, bits in _INTEGER_BITS:
            if isinstance(self.column.type, kind):
                return not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
        return False

    def bound(self) -> Any:
        """The parameter's value (a substring search escapes LIKE's wildcards)."""
        if self.op == "contains":
            escaped = str(self.value).replace("/", "//").replace("%", "/%").replace("_", "/_")
            return f"%{escaped}%"
        return self.value
