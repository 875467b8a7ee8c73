"""PreparedSQL: our %(name)s / %s statements as PREPARE text and EXECUTE calls."""

from __future__ import annotations

import pytest

from backend.core.prepared import PreparedSQL


def test_named_parameters_are_numbered_by_first_use_and_reused() -> None:
    stmt = PreparedSQL(
        "oddsdesk_t", "SELECT %(b)s::int, %(a)s FROM t WHERE x = %(b)s AND y LIKE 'a%%'"
    )
    assert stmt.prepare_sql == (
        "PREPARE oddsdesk_t AS SELECT $1::int, $2 FROM t WHERE x = $1 AND y LIKE 'a%'"
    )
    assert stmt.execute_sql == "EXECUTE oddsdesk_t(%(b)s, %(a)s)"
    assert stmt.text == "SELECT %(b)s::int, %(a)s FROM t WHERE x = %(b)s AND y LIKE 'a%%'"


def test_positional_parameters_lead_and_no_parameters() -> None:
    stmt = PreparedSQL("oddsdesk_p", "INSERT INTO t VALUES (%s::uuid, %s)", lead="SELECT 1")
    assert stmt.prepare_sql == "PREPARE oddsdesk_p AS INSERT INTO t VALUES ($1::uuid, $2)"
    assert stmt.execute_sql == "SELECT 1; EXECUTE oddsdesk_p(%s, %s)"
    assert stmt.text == "SELECT 1; INSERT INTO t VALUES (%s::uuid, %s)"
    assert PreparedSQL("oddsdesk_n", "SELECT now()").execute_sql == "EXECUTE oddsdesk_n"


@pytest.mark.parametrize(
    ("name", "sql", "match"),
    [
        ("bets", "SELECT 1", "prepared statement name"),  # not in our namespace
        ("oddsdesk_Bad", "SELECT 1", "prepared statement name"),
        # past PostgreSQL's 63-byte identifiers
        ("oddsdesk_" + "x" * 60, "SELECT 1", "prepared statement name"),
        ("oddsdesk_mixed", "SELECT %s, %(a)s", "not both"),
    ],
)
def test_bad_definitions_are_refused(name: str, sql: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PreparedSQL(name, sql)
