"""Alembic's comparison of the models with the database (`compare_metadata`, types and
server defaults compared), each of its diffs as a mismatch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, ForeignKeyConstraint, Index, MetaData

from backend.models.base import include_managed_schemas
from backend.services.schema_mismatch import default_text, fk_desc

# How a mismatch is reported: (kind, schema, table, object, expected, actual).
Report = Callable[[str, str | None, str, str, Any, Any], None]


class AlembicDiff:
    def __init__(self, conn: Connection, metadata: MetaData, add: Report) -> None:
        self.conn = conn
        self.metadata = metadata
        self._add = add

    def run(self) -> None:
        self._alembic()

    def _alembic(self) -> None:
        context = MigrationContext.configure(
            self.conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_schemas": True,
                "include_name": include_managed_schemas,
            },
        )
        for diff in compare_metadata(context, self.metadata):
            for item in diff if isinstance(diff, list) else [diff]:
                self._from_alembic(item)

    def _from_alembic(self, d: tuple[Any, ...]) -> None:
        op = d[0]
        if op in ("add_table", "remove_table"):
            t = d[1]
            kind = "missing_table" if op == "add_table" else "unexpected_table"
            self._add(
                kind,
                t.schema,
                t.name,
                t.name,
                "table" if op == "add_table" else None,
                None if op == "add_table" else "table",
            )
        elif op in ("add_column", "remove_column"):
            schema, table, column = d[1], d[2], d[3]
            if op == "add_column":
                self._add("missing_column", schema, table, column.name, column.type, None)
            else:
                self._add("unexpected_column", schema, table, column.name, None, column.type)
        elif op == "modify_type":
            _, schema, table, column, _, db_type, model_type = d
            self._add("type_mismatch", schema, table, column, model_type, db_type)
        elif op == "modify_nullable":
            _, schema, table, column, _, db_null, model_null = d
            self._add(
                "nullability_mismatch",
                schema,
                table,
                column,
                "NULL" if model_null else "NOT NULL",
                "NULL" if db_null else "NOT NULL",
            )
        elif op == "modify_default":
            _, schema, table, column, _, db_default, model_default = d
            self._add(
                "default_mismatch",
                schema,
                table,
                column,
                default_text(model_default),
                default_text(db_default),
            )
        elif op in ("add_index", "remove_index"):
            index: Index = d[1]
            cols = ", ".join(str(c) for c in index.expressions)
            desc = f"{'UNIQUE ' if index.unique else ''}({cols})"
            owner = index.table
            assert owner is not None
            if op == "add_index":
                self._add("missing_index", owner.schema, owner.name, str(index.name), desc, None)
            else:
                self._add("unexpected_index", owner.schema, owner.name, str(index.name), None, desc)
        elif op in ("add_constraint", "remove_constraint"):
            c = d[1]
            cols = ", ".join(col.name for col in c.columns)
            if op == "add_constraint":
                self._add(
                    "missing_unique",
                    c.table.schema,
                    c.table.name,
                    str(c.name),
                    f"UNIQUE ({cols})",
                    None,
                )
            else:
                self._add(
                    "unexpected_unique",
                    c.table.schema,
                    c.table.name,
                    str(c.name),
                    None,
                    f"UNIQUE ({cols})",
                )
        elif op in ("add_fk", "remove_fk"):
            fk: ForeignKeyConstraint = d[1]
            desc = fk_desc(
                fk.column_keys,
                fk.referred_table.name,
                [e.column.name for e in fk.elements],
                fk.ondelete,
            )
            if op == "add_fk":
                self._add(
                    "missing_foreign_key", fk.table.schema, fk.table.name, str(fk.name), desc, None
                )
            else:
                self._add(
                    "unexpected_foreign_key",
                    fk.table.schema,
                    fk.table.name,
                    str(fk.name),
                    None,
                    desc,
                )
        else:
            self._add("other", None, "", op, None, repr(d[1:]))
