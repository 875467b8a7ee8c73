"""A difference between the ORM models and a live database, and the rules for comparing
the text of SQL and describing foreign keys and defaults, shared by every check."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


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


def norm_sql(sql: str | None) -> str:
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


def schema_of(schema: str | None) -> str:
    return schema or "public"


_PAIRED = {
    "foreign_key": "foreign_key_mismatch",
    "index": "index_mismatch",
    "unique": "unique_mismatch",
}


def merge_pairs(found: list[Mismatch]) -> list[Mismatch]:
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


def default_text(value: Any) -> str | None:
    if value is None:
        return None
    arg = getattr(value, "arg", value)
    return str(getattr(arg, "text", arg))


def fk_desc(
    columns: Iterable[str], table: str, referred: Iterable[str], ondelete: str | None
) -> str:
    return (
        f"({', '.join(columns)}) -> {table}({', '.join(referred)}) "
        f"ON DELETE {(ondelete or 'NO ACTION').upper()}"
    )
