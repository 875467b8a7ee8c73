"""Prepared statements: hot statements parsed and planned once per connection.

`PreparedSQL` is written like plain SQL; `statement_text` turns it into what a connection must
send (PREPARE once, then EXECUTE). What is prepared where is kept on each connection's state
(backend/core/connection.py), the policy (on or off, and its generation) once per engine.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sqlalchemy import Connection

from backend.core.connection import state_of

# What EXECUTE answers when the server no longer has the statement as prepared: it was
# deallocated behind our back (DISCARD ALL by a pooler, an operator's DEALLOCATE), or a
# migration changed the shape of its result. The connection is then replaced and the unit of
# work retried (nothing of it was committed); whatever caused it likely hit every connection,
# so each of the others starts afresh (DEALLOCATE ALL) the next time it prepares.
STALE_PREPARED_SQLSTATES = frozenset({"26000", "0A000"})


class PreparedPolicy:
    """Per engine: whether hot statements are prepared, and the generation of what was
    prepared (bumped when a connection finds a statement lost: every connection's earlier
    preparations are then suspect)."""

    __slots__ = ("enabled", "generation")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.generation = 0


class PreparedOnConnection:
    """What is prepared on one connection, and under which generation of the policy."""

    __slots__ = ("generation", "names")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.names: set[str] = set()


def lost_prepared(exc: BaseException, sent: str) -> bool:
    """The server no longer has a statement we prepared on this connection (the EXECUTE may
    have been staged in front of another statement, a COMMIT for instance)."""
    code = getattr(exc, "pgcode", None)
    if code == "26000":  # invalid_sql_statement_name: only our EXECUTEs name statements
        return True
    return code == "0A000" and "EXECUTE oddsdesk_" in sent  # a cached plan's result changed


# Sent ahead of a statement prepared with `generic=True`, in its round trip: the transaction's
# prepared statements then run on their generic plan (see PreparedSQL).
GENERIC_PLAN = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"

_PARAMETER = re.compile(r"%\((\w+)\)s|%s|%%")


class PreparedSQL:
    """A hot statement that PostgreSQL parses, rewrites (row-level security) and plans once
    per connection instead of once per request.

    Written like any plain SQL of ours, with %(name)s (or positional %s) parameters. With
    DB_PREPARED_STATEMENTS on, each pooled connection sends `PREPARE name AS ...` the first
    time it needs the statement (a round trip of its own, once per connection lifetime,
    outside any preamble) and `EXECUTE name(...)` from then on, its parameters as literals
    like every statement of ours; after five executions PostgreSQL keeps one generic plan
    when it costs no more than the custom ones. Off (for a PgBouncer in transaction mode,
    where a server session's prepared statements do not follow the client), the text itself
    is sent. `lead` is plain SQL sent ahead of it in the same round trip. A parameter whose
    type PostgreSQL cannot infer from its place (an INSERT ... SELECT list, a multi-row
    VALUES) is written with a cast.

    `generic=True` runs it on its generic plan from the first EXECUTE (planned once per
    connection, never again). For statements on the partitioned history tables: a custom plan
    prunes the partitions at planning time and so always looks cheaper to PostgreSQL than the
    generic one, which prunes them as the statement starts (the same partitions, the same
    index scans), so PostgreSQL would plan every execution anew, and planning a statement
    over every partition's indexes costs more than running a page of it. The setting holds
    until the end of the transaction (a read-only unit's statement is its own).
    """

    __slots__ = ("execute_sql", "name", "prepare_sql", "text")

    # Every statement made in this process, by name (a name is unique within a process).
    by_name: ClassVar[dict[str, PreparedSQL]] = {}

    def __init__(self, name: str, sql: str, *, lead: str = "", generic: bool = False) -> None:
        if not re.fullmatch(r"oddsdesk_[a-z0-9_]{1,54}", name):
            raise ValueError(f"prepared statement name {name!r}: oddsdesk_ + [a-z0-9_]")
        named: list[str] = []
        positional = 0

        def number(match: re.Match[str]) -> str:
            nonlocal positional
            if match.group(0) == "%%":
                return "%"
            if match.group(1) is None:
                positional += 1
                return f"${positional}"
            if match.group(1) not in named:
                named.append(match.group(1))
            return f"${named.index(match.group(1)) + 1}"

        body = _PARAMETER.sub(number, sql)
        if named and positional:
            raise ValueError("a statement has named or positional parameters, not both")
        arguments = ", ".join([f"%({p})s" for p in named] or ["%s"] * positional)
        execute = f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}"
        self.name = name
        self.prepare_sql = f"PREPARE {name} AS {body}"
        ahead = "; ".join(part for part in (lead, GENERIC_PLAN if generic else "") if part)
        self.execute_sql = f"{ahead}; {execute}" if ahead else execute
        self.text = f"{lead}; {sql}" if lead else sql
        known = PreparedSQL.by_name.setdefault(name, self)
        if known.text != self.text or known.execute_sql != self.execute_sql:
            # A connection that prepared one would EXECUTE it for the other.
            raise ValueError(f"prepared statement {name!r} is already another statement")

    def __repr__(self) -> str:
        return f"PreparedSQL({self.name!r})"


def statement_text(conn: Connection, cursor: Any, statement: str | PreparedSQL) -> str:
    """The text to send for `statement` on this connection (its parameters still to be
    bound), preparing it first if needed."""
    if not isinstance(statement, PreparedSQL):
        return statement
    state = state_of(conn)
    policy = state.policy
    if policy is None or not policy.enabled:
        return statement.text
    prepared = state.prepared
    if prepared is None or prepared.generation != policy.generation:
        if prepared is not None and prepared.names:
            cursor.execute("DEALLOCATE ALL")  # start afresh: what is left may be stale
        prepared = state.prepared = PreparedOnConnection(policy.generation)
    if statement.name not in prepared.names:
        # Its own round trip, without the preamble: PREPARE is not transactional, so once it
        # has succeeded the statement stays prepared whatever this transaction does next.
        cursor.execute(statement.prepare_sql)
        prepared.names.add(statement.name)
    return statement.execute_sql
