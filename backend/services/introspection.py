"""Every difference between the ORM models and a live database, as one flat list.

Alembic's comparison (`compare_metadata`, with type and server-default comparison) finds
tables, columns, types, nullability, defaults, indexes, unique constraints and foreign keys.
This module adds what it skips: CHECK constraints, primary keys, foreign-key targets and
ON DELETE, partial-index predicates, partitioning, and the objects only migrations create (triggers,
row-level security, views, the materialized view, functions, the `analytics` schema), which
are declared in `declared_objects.py`. Alembic's diffs are translated in `alembic_diff.py`;
`Mismatch` and the text rules are in `schema_mismatch.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import CheckConstraint, Connection, MetaData, inspect, text

from backend.services.alembic_diff import AlembicDiff
from backend.services.declared_objects import DECLARED_OBJECTS, declared_exists
from backend.services.schema_mismatch import Mismatch, fk_desc, merge_pairs, norm_sql, schema_of


class Comparator:
    def __init__(self, conn: Connection, metadata: MetaData, schemas: Iterable[str]) -> None:
        self.conn = conn
        self.metadata = metadata
        self.schemas = set(schemas)
        self.inspector = inspect(conn)
        self.out: list[Mismatch] = []

    def _add(
        self, kind: str, schema: str | None, table: str, obj: str, expected: Any, actual: Any
    ) -> None:
        if schema_of(schema) not in self.schemas:
            return
        self.out.append(
            Mismatch(
                kind,
                schema_of(schema),
                table,
                obj,
                None if expected is None else str(expected),
                None if actual is None else str(actual),
            )
        )

    def run(self) -> list[Mismatch]:
        self._alembic()
        for table in self.metadata.sorted_tables:
            schema = schema_of(table.schema)
            if schema not in self.schemas:
                continue
            if not self.inspector.has_table(table.name, schema=schema):
                continue  # reported as missing_table already
            self._primary_key(table)
            self._checks(table)
            self._foreign_keys(table)
            self._partial_indexes(table)
            self._partitioning(table)
        self._declared()
        return merge_pairs(self.out)

    def _alembic(self) -> None:
        AlembicDiff(self.conn, self.metadata, self._add).run()

    # -- what Alembic skips -----------------------------------------------------------------

    def _primary_key(self, table: Any) -> None:
        expected = [c.name for c in table.primary_key.columns]
        actual = self.inspector.get_pk_constraint(table.name, schema=table.schema)
        got = actual.get("constrained_columns") or []
        if expected != got:
            self._add(
                "primary_key_mismatch",
                table.schema,
                table.name,
                str(table.primary_key.name),
                ", ".join(expected) or None,
                ", ".join(got) or None,
            )

    def _checks(self, table: Any) -> None:
        expected = {
            str(c.name): str(c.sqltext) for c in table.constraints if isinstance(c, CheckConstraint)
        }
        actual = {
            str(c["name"]): c["sqltext"]
            for c in self.inspector.get_check_constraints(table.name, schema=table.schema)
        }
        canonical = self._canonical_checks(table, {n: expected[n] for n in expected if n in actual})
        for name, sql in expected.items():
            if name not in actual:
                self._add("missing_check", table.schema, table.name, name, sql, None)
            elif canonical.get(name) != norm_sql(actual[name]):
                self._add("check_mismatch", table.schema, table.name, name, sql, actual[name])
        for name in actual.keys() - expected.keys():
            self._add("unexpected_check", table.schema, table.name, name, None, actual[name])

    def _canonical_checks(self, table: Any, checks: dict[str, str]) -> dict[str, str]:
        """The model's CHECK expressions as PostgreSQL itself writes them back: added to a
        temporary copy of the table inside a savepoint that is then rolled back."""
        if not checks:
            return {}
        schema = schema_of(table.schema)
        out: dict[str, str] = {}
        nested = self.conn.begin_nested()
        try:
            self.conn.execute(
                text(f'CREATE TEMP TABLE oddsdesk_check_probe (LIKE "{schema}"."{table.name}")')
            )
            for i, (name, sql) in enumerate(checks.items()):
                probe = self.conn.begin_nested()
                try:
                    add = f"ALTER TABLE oddsdesk_check_probe ADD CONSTRAINT probe_{i} CHECK ({sql})"
                    self.conn.execute(text(add))
                    probe.commit()
                except Exception:  # an expression the live table cannot hold: a mismatch
                    probe.rollback()
                    continue
                definition = self.conn.execute(
                    text(
                        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conname = :c AND conrelid = 'oddsdesk_check_probe'::regclass"
                    ),
                    {"c": f"probe_{i}"},
                ).scalar_one()
                out[name] = norm_sql(definition.removeprefix("CHECK "))
        finally:
            nested.rollback()
        return out

    def _foreign_keys(self, table: Any) -> None:
        actual = {
            fk["name"]: fk
            for fk in self.inspector.get_foreign_keys(table.name, schema=table.schema)
        }
        for fk in table.foreign_key_constraints:
            got = actual.get(str(fk.name))
            if got is None:
                continue  # Alembic reports missing foreign keys
            want = fk_desc(
                fk.column_keys,
                fk.referred_table.name,
                [e.column.name for e in fk.elements],
                fk.ondelete,
            )
            have = fk_desc(
                got["constrained_columns"],
                got["referred_table"],
                got["referred_columns"],
                (got.get("options") or {}).get("ondelete"),
            )
            if want != have:
                self._add(
                    "foreign_key_mismatch", table.schema, table.name, str(fk.name), want, have
                )

    def _partial_indexes(self, table: Any) -> None:
        actual = {
            i["name"]: (i.get("dialect_options") or {}).get("postgresql_where")
            for i in self.inspector.get_indexes(table.name, schema=table.schema)
        }
        for index in table.indexes:
            if index.name not in actual:
                continue  # Alembic reports missing indexes
            want = index.dialect_options["postgresql"].get("where")
            have = actual[index.name]
            if norm_sql(str(want) if want is not None else None) != norm_sql(have):
                self._add(
                    "index_predicate_mismatch",
                    table.schema,
                    table.name,
                    str(index.name),
                    want,
                    have,
                )

    def _partitioning(self, table: Any) -> None:
        """The model's `postgresql_partition_by` against the table's (none for a plain one)."""
        want = table.dialect_options["postgresql"].get("partition_by")
        have = self.conn.execute(
            text(
                "SELECT pg_get_partkeydef(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relname = :table"
            ),
            {"schema": schema_of(table.schema), "table": table.name},
        ).scalar()
        if norm_sql(want) != norm_sql(have):
            self._add("partitioning_mismatch", table.schema, table.name, table.name, want, have)

    # -- objects only migrations create ----------------------------------------------------

    def _declared(self) -> None:
        for d in DECLARED_OBJECTS:
            if d.schema not in self.schemas:
                continue
            if not declared_exists(self.conn, d):
                self._add(f"missing_{d.kind}", d.schema, d.table, d.name, d.kind, None)


def compare(conn: Connection, metadata: MetaData, schemas: Iterable[str]) -> list[Mismatch]:
    """All differences between `metadata` and the database behind `conn`, in `schemas`."""
    return Comparator(conn, metadata, schemas).run()
