"""Compare the ORM models with a live database and report every difference.

    python -m backend.scripts.db_introspection [--database-url URL] [--schema S ...]
                                               [--format text|json]

Exit status: 0 in sync, 1 when anything differs, 2 when the database cannot be reached.

JSON output is a list with one object per difference:
    {"kind": "missing_column", "schema": "public", "table": "teams", "object": "country",
     "expected": "VARCHAR(100)", "actual": null}
`expected` is what the models (or the declared migration-only objects) say, `actual` what the
database has; null means absent. Kinds: missing_table, unexpected_table, missing_column,
unexpected_column, type_mismatch, nullability_mismatch, default_mismatch, primary_key_mismatch,
missing_index, unexpected_index, index_predicate_mismatch, missing_unique, unexpected_unique,
missing_foreign_key, unexpected_foreign_key, foreign_key_mismatch, missing_check,
unexpected_check, check_mismatch, partitioning_mismatch, missing_trigger, missing_policy,
missing_rls, missing_view, missing_materialized_view, missing_function, missing_schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import groupby

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from backend.core.config import load_settings
from backend.models import Base
from backend.models.base import MANAGED_SCHEMAS
from backend.services.introspection import compare
from backend.services.schema_mismatch import Mismatch


def render_text(found: list[Mismatch]) -> str:
    if not found:
        return "no differences: the database matches the models"
    lines = []
    ordered = sorted(found, key=lambda m: (m.schema, m.table, m.kind, m.object))
    for (schema, table), group in groupby(ordered, key=lambda m: (m.schema, m.table or "-")):
        lines.append(f"{schema}.{table}")
        for m in group:
            lines.append(
                f"  {m.kind:<26} {m.object:<40} expected: {m.expected or '-'}"
                f"  actual: {m.actual or '-'}"
            )
    tables = len({(m.schema, m.table) for m in found})
    lines.append(
        f"{len(found)} difference{'s' if len(found) != 1 else ''} "
        f"in {tables} table{'s' if tables != 1 else ''}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.scripts.db_introspection",
        description="Report every difference between the ORM models and a live database.",
    )
    parser.add_argument("--database-url", help="default: the application's settings")
    parser.add_argument(
        "--schema",
        action="append",
        choices=sorted(MANAGED_SCHEMAS),
        help="compare only this schema (repeatable; default: all)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)

    try:
        url = make_url(args.database_url) if args.database_url else load_settings().sqlalchemy_url
    except ArgumentError as exc:
        print(f"error: not a database URL: {exc}", file=sys.stderr)
        return 2
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg2")
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            found = compare(conn, Base.metadata, args.schema or sorted(MANAGED_SCHEMAS))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        print(f"error: cannot reach the database: {reason}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if args.format == "json":
        print(json.dumps([m.as_dict() for m in found], indent=2))
    else:
        print(render_text(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
