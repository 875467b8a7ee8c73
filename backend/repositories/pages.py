"""Keyset pages: what a page holds, the read models lists are built from, and the statement
that selects a page after a cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, tuple_

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
            columns=tuple(getattr(model, name) for name in keys),
            joins=(),
            build=lambda row: dict(zip(keys, row, strict=True)),
        )


@dataclass(frozen=True)
class PageStatement:
    statement: Select[Any]
    sql: str  # the same, compiled for the psycopg2 cursor (%(name)s parameters)
    key_positions: tuple[int, ...]  # where the order keys are in a read model's row


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
        stmt = stmt.where(tuple_(*keys) > tuple_(*after))
    if view is not None:
        stmt = stmt.with_only_columns(*view.columns, maintain_column_froms=True)
        for target, onclause in view.joins:
            stmt = stmt.join(target, onclause)
    return stmt.order_by(*keys).limit(limit)
