"""Every difference between the ORM models and a live database, as one flat list.

Alembic's comparison (`compare_metadata`, with type and server-default comparison) finds
tables, columns, types, nullability, defaults, indexes, unique constraints and foreign keys.
This module adds what it skips: CHECK constraints, primary keys, foreign-key targets and
ON DELETE, partial-index predicates, and the objects only migrations create (triggers,
row-level security, views, the materialized view, functions, the `analytics` schema), which
are declared in `DECLARED_OBJECTS` below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    CheckConstraint,
    Connection,
    ForeignKeyConstraint,
    Index,
    MetaData,
    inspect,
    text,
)

from backend.models.base import include_managed_schemas


@dataclass(frozen=True, order=True)
class Mismatch:
    """One difference. `expected` is what the models (or the declared list) say."""

    kind: str
    schema: str
    table: str
    object: str
    expected: str | None
    actual: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Declared:
    kind: str  # trigger | policy | rls | view | materialized_view | function | schema
    schema: str
    table: str
    name: str


DECLARED_OBJECTS: tuple[Declared, ...] = (
    Declared("schema", "analytics", "", "analytics"),
    Declared("function", "public", "", "oddsdesk_forbid_change"),
    Declared("trigger", "public", "audit_log", "audit_log_append_only"),
    Declared("trigger", "public", "audit_log", "audit_log_no_truncate"),
    Declared("trigger", "public", "odds_snapshots", "odds_snapshots_append_only"),
    Declared("trigger", "public", "odds_snapshots", "odds_snapshots_no_truncate"),
    *(
        d
        for table in ("strategies", "bets", "idempotency_keys", "audit_log")
        for d in (
            Declared("rls", "public", table, "row level security (forced)"),
            Declared("policy", "public", table, "tenant_isolation"),
        )
    ),
    Declared("materialized_view", "public", "strategy_leaderboard", "strategy_leaderboard"),
    Declared("view", "public", "tenant_leaderboard", "tenant_leaderboard"),
    Declared("function", "public", "", "refresh_strategy_leaderboard"),
    Declared("function", "public", "", "oddsdesk_assert_api_key"),
    Declared("function", "public", "", "oddsdesk_announce_change"),
    Declared("function", "public", "", "oddsdesk_announce_rebuild"),
    Declared("trigger", "analytics", "team_profiles", "team_profiles_announce_rebuild"),
    *(
        Declared("trigger", "public", table, f"{table}_announce_change")
        for table in ("teams", "bookmakers", "api_keys", "tenants")
    ),
)


def _norm(sql: str | None) -> str:
    """Compare SQL text loosely: case, whitespace, parentheses and casts do not matter."""
    if sql is None:
        return ""
    out = re.sub(
        r"::(character varying|timestamp with time zone|double precision|[a-z_0-9]+)(\[\])?",
        "",
        sql.lower(),
    )
    out = re.sub(r"[()\s]+", "", out)
    return out.replace("'", "")


def _table_key(schema: str | None) -> str:
    return schema or "public"


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
        if _table_key(schema) not in self.schemas:
            return
        self.out.append(
            Mismatch(
                kind,
                _table_key(schema),
                table,
                obj,
                None if expected is None else str(expected),
                None if actual is None else str(actual),
            )
        )

    def run(self) -> list[Mismatch]:
        self._alembic()
        for table in self.metadata.sorted_tables:
            schema = _table_key(table.schema)
            if schema not in self.schemas:
                continue
            if not self.inspector.has_table(table.name, schema=schema):
                continue  # reported as missing_table already
            self._primary_key(table)
            self._checks(table)
            self._foreign_keys(table)
            self._partial_indexes(table)
        self._declared()
        return _merge_pairs(self.out)

    # -- Alembic ----------------------------------------------------------------------------

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
                _default(model_default),
                _default(db_default),
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
            desc = _fk_desc(
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
            elif canonical.get(name) != _norm(actual[name]):
                self._add("check_mismatch", table.schema, table.name, name, sql, actual[name])
        for name in actual.keys() - expected.keys():
            self._add("unexpected_check", table.schema, table.name, name, None, actual[name])

    def _canonical_checks(self, table: Any, checks: dict[str, str]) -> dict[str, str]:
        """The model's CHECK expressions as PostgreSQL itself writes them back: added to a
        temporary copy of the table inside a savepoint that is then rolled back."""
        if not checks:
            return {}
        schema = _table_key(table.schema)
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
                out[name] = _norm(definition.removeprefix("CHECK "))
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
            want = _fk_desc(
                fk.column_keys,
                fk.referred_table.name,
                [e.column.name for e in fk.elements],
                fk.ondelete,
            )
            have = _fk_desc(
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
            if _norm(str(want) if want is not None else None) != _norm(have):
                self._add(
                    "index_predicate_mismatch",
                    table.schema,
                    table.name,
                    str(index.name),
                    want,
                    have,
                )

    # -- objects only migrations create ----------------------------------------------------

    def _declared(self) -> None:
        for d in DECLARED_OBJECTS:
            if d.schema not in self.schemas:
                continue
            if not self._exists(d):
                self._add(f"missing_{d.kind}", d.schema, d.table, d.name, d.kind, None)

    def _exists(self, d: Declared) -> bool:
        queries = {
            "schema": "SELECT 1 FROM pg_namespace WHERE nspname = :name",
            "function": "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = :schema AND p.proname = :name",
            "trigger": "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema "
            "AND c.relname = :table AND t.tgname = :name AND NOT t.tgisinternal "
            "AND t.tgenabled <> 'D'",
            "policy": "SELECT 1 FROM pg_policies WHERE schemaname = :schema "
            "AND tablename = :table AND policyname = :name",
            "rls": "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relname = :table "
            "AND c.relrowsecurity AND c.relforcerowsecurity",
            "view": "SELECT 1 FROM pg_views WHERE schemaname = :schema AND viewname = :name",
            "materialized_view": "SELECT 1 FROM pg_matviews WHERE schemaname = :schema "
            "AND matviewname = :name",
        }
        params = {"schema": d.schema, "table": d.table, "name": d.name}
        return self.conn.execute(text(queries[d.kind]), params).first() is not None


_PAIRED = {
    "foreign_key": "foreign_key_mismatch",
    "index": "index_mismatch",
    "unique": "unique_mismatch",
}


def _merge_pairs(found: list[Mismatch]) -> list[Mismatch]:
    """Alembic reports a changed foreign key or index as removed + added: one mismatch here."""
    by_key: dict[tuple[str, str, str, str], Mismatch] = {}
    for m in found:
        family = m.kind.removeprefix("missing_").removeprefix("unexpected_")
        family = family.removesuffix("_mismatch")
        key = (family, m.schema, m.table, m.object)
        if family in _PAIRED and key in by_key:
            other = by_key[key]
            expected = m.expected if m.kind.startswith("missing_") else other.expected
            actual = m.actual if m.kind.startswith("unexpected_") else other.actual
            if m.kind.endswith("_mismatch"):
                expected, actual = m.expected, m.actual
            elif other.kind.endswith("_mismatch"):
                expected, actual = other.expected, other.actual
            by_key[key] = Mismatch(_PAIRED[family], m.schema, m.table, m.object, expected, actual)
        else:
            by_key[key if family in _PAIRED else (m.kind, *key[1:])] = m
    return sorted(set(by_key.values()))


def _default(value: Any) -> str | None:
    if value is None:
        return None
    arg = getattr(value, "arg", value)
    return str(getattr(arg, "text", arg))


def _fk_desc(
    columns: Iterable[str], table: str, referred: Iterable[str], ondelete: str | None
) -> str:
    return (
        f"({', '.join(columns)}) -> {table}({', '.join(referred)}) "
        f"ON DELETE {(ondelete or 'NO ACTION').upper()}"
    )


def compare(conn: Connection, metadata: MetaData, schemas: Iterable[str]) -> list[Mismatch]:
    """All differences between `metadata` and the database behind `conn`, in `schemas`."""
    return Comparator(conn, metadata, schemas).run()
