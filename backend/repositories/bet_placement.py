"""Placing a bet: its statements, compiled once, and what they answer.

The hot path is plain SQL compiled at import, not a statement built per request: the bet's
locks and the debit-and-insert built from the tables (one round trip, every rule a condition
of the debit); only when it placed nothing, the placement context (the stored answer, the
strategy, match, bookmaker and latest price) and the read of why the debit found no row.
`BetRepository` (repositories/bets.py) runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Numeric,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import psycopg2
from sqlalchemy.types import TypeEngine

from backend.core.prepared import PreparedSQL
from backend.models.base import Base
from backend.models.odds import OddsSnapshot
from backend.models.reference import Bookmaker, Match
from backend.models.trading import Bet, IdempotencyKey, Strategy
from backend.repositories.locks import MARKET_LOCK, STRATEGY_LOCK

# The locks a bet takes, as statements of their own in front of its debit (one round trip in
# all): the idempotency key's transaction-scoped advisory lock, without waiting (the answer kept
# in a transaction-local setting the debit checks); the match's market lock in shared mode
# (see MARKET_LOCK: a settlement of the match holds it exclusively, so a bet either commits
# before the settlement starts, and is settled by it, or waits and then finds the market
# closed); then, if the key was claimed, the strategy's lock (see STRATEGY_LOCK; a request
# whose key is in flight must not wait for the first one, which holds it). The debit runs
# with a snapshot taken after all three (READ COMMITTED: one per statement), so nothing that
# committed before the locks were granted is unseen: no answer stored under the key, no bet
# of the strategy.
_LOCKS = f"""
    SELECT set_config('oddsdesk.key_locked',
                      pg_try_advisory_xact_lock(hashtextextended(%(lock_id)s, 0))::text, true),
           pg_advisory_xact_lock_shared({MARKET_LOCK}, %(match_id)s);
    SELECT pg_advisory_xact_lock({STRATEGY_LOCK}, hashtext(%(strategy_id)s))
     WHERE current_setting('oddsdesk.key_locked')::boolean
"""
# Read only when the debit placed nothing, under the locks it took, to tell why: whether the
# key was claimed, the answer stored under it, the strategy, the match, the bookmaker and the
# price guard's reference (the bookmaker's latest snapshot of the selection; none: no guard).
PLACEMENT_CONTEXT = PreparedSQL(
    "oddsdesk_bet_context",
    """
    SELECT coalesce(nullif(current_setting('oddsdesk.key_locked', true), ''), 'false')::boolean,
           s.status, s.max_stake, m.status, m.kickoff_at,
           EXISTS (SELECT 1 FROM bookmakers WHERE id = %(bookmaker)s),
           k.expires_at > now(), k.fingerprint, k.status_code, k.response_body,
           s.price_tolerance, o.price, o.captured_at
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN strategies s ON s.tenant_id = %(tenant)s AND s.id = %(strategy)s
      LEFT JOIN matches m ON m.id = %(match)s
      LEFT JOIN idempotency_keys k ON k.tenant_id = %(tenant)s AND k.key = %(key)s
      LEFT JOIN LATERAL (
            SELECT price, captured_at FROM odds_snapshots
             WHERE match_id = %(match)s AND bookmaker_id = %(bookmaker)s
               AND market = %(market)s AND selection = %(selection)s
               AND line IS NOT DISTINCT FROM %(line)s::numeric
             ORDER BY line DESC, captured_at DESC LIMIT 1
      ) o ON true
""",
    generic=True,
)


def _unbounded(column: Column[Any]) -> TypeEngine[Any]:
    """The column's type without its length or precision: a cast to it never truncates or
    rounds (the column's own assignment then does what it would for any INSERT)."""
    kind = column.type
    if isinstance(kind, String):
        return Text()
    if isinstance(kind, Numeric):
        return Numeric()
    return kind


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _debit_and_insert_sql() -> str:
    """The placing statement, built from the tables: a CTE `debit` (the conditional UPDATE of
    the strategy, RETURNING its new bankroll), a CTE `inserted` (the bet, INSERT ... SELECT
    FROM debit, so no row is inserted when the debit found none) and the inserted row with
    the new bankroll. The debit's conditions: the idempotency key claimed and no live answer
    stored under it; the strategy active, the stake within its bankroll and max_stake, within
    its max_match_exposure with its open bets on the match (no limit: not summed); the match
    open; the bookmaker known; the price no better than the price guard allows. Each refusal
    is a debit that finds no row (never an error: the transaction stays usable to tell why).
    Compiled once, for psycopg2 (%(name)s parameters, constants inline)."""
    strategies, bets, matches = _table(Strategy), _table(Bet), _table(Match)
    keys, bookmakers, odds = _table(IdempotencyKey), _table(Bookmaker), _table(OddsSnapshot)
    # What a new bet must be given: its NOT NULL columns without a server default (id,
    # tenant, strategy, match, bookmaker, market, selection, stake, price, potential return)
    # and the line, each from the parameter of its name; created_by and updated_by are the actor.
    given = [c for c in bets.c if not c.nullable and c.server_default is None]
    given.append(bets.c.line)  # nullable, but always given (NULL: a line-less market)
    stamped = [bets.c.created_by, bets.c.updated_by]
    # Typed where the column types them (the WHERE); the SELECT list casts its own (an
    # INSERT ... SELECT list would otherwise leave them untyped).
    stake = bindparam("stake", type_=bets.c.stake.type, required=False)
    tenant = bindparam("tenant_id", type_=strategies.c.tenant_id.type, required=False)
    strategy = bindparam("strategy_id", type_=strategies.c.id.type, required=False)
    match = bindparam("match_id", type_=matches.c.id.type, required=False)
    actor = bindparam("actor", type_=strategies.c.updated_by.type, required=False)
    key = bindparam("key", type_=keys.c.key.type, required=False)
    bookmaker = bindparam("bookmaker_id", type_=bookmakers.c.id.type, required=False)
    price = bindparam("price", type_=bets.c.price.type, required=False)
    line = bindparam("line", type_=bets.c.line.type, required=False)
    default_tolerance = bindparam(
        "default_price_tolerance", type_=strategies.c.price_tolerance.type, required=False
    )

    def inline(value: Any) -> Any:
        return literal(value, literal_execute=True)  # rendered as a constant, not a parameter

    now = func.statement_timestamp()
    market_open = (
        select(inline(1))
        .where(matches.c.id == match, matches.c.status == inline("scheduled"))
        .where(matches.c.kickoff_at > now)
        .exists()
    )
    # Evaluated only for a strategy with a limit (an uncorrelated subquery runs on first use).
    open_stakes = (
        select(func.coalesce(func.sum(bets.c.stake), inline(0)))
        .where(bets.c.tenant_id == tenant, bets.c.strategy_id == strategy)
        .where(bets.c.match_id == match, bets.c.status == inline("open"))
        .scalar_subquery()
    )
    within_exposure = or_(
        strategies.c.max_match_exposure.is_(None),
        strategies.c.max_match_exposure >= open_stakes + stake,
    )
    key_claimed = cast(func.current_setting(inline("oddsdesk.key_locked")), Boolean)
    answered = (
        select(inline(1))
        .where(keys.c.tenant_id == tenant, keys.c.key == key, keys.c.expires_at > func.now())
        .exists()
    )
    bookmaker_known = select(inline(1)).where(bookmakers.c.id == bookmaker).exists()
    latest = (
        select(odds.c.price)
        .where(odds.c.match_id == match, odds.c.bookmaker_id == bookmaker)
        .where(odds.c.market == bindparam("market", type_=odds.c.market.type, required=False))
        .where(
            odds.c.selection == bindparam("selection", type_=odds.c.selection.type, required=False)
        )
        .where(odds.c.line.is_not_distinct_from(line))
        # One line is selected: (line, captured_at) DESC walks the natural-key index backwards.
        .order_by(odds.c.line.desc(), odds.c.captured_at.desc())
        .limit(inline(1))
        .subquery("latest")
    )
    tolerance = func.coalesce(strategies.c.price_tolerance, default_tolerance)
    # Prices have 3 places: above latest x (1 + tolerance) is above its floor to 3 places.
    price_beaten = select(inline(1)).where(price > latest.c.price * (inline(1) + tolerance))
    debit_allowed = and_(key_claimed, ~answered, bookmaker_known, ~price_beaten.exists())
    debit = (
        update(strategies)
        .where(strategies.c.tenant_id == tenant, strategies.c.id == strategy)
        .where(strategies.c.status == inline("active"))
        .where(strategies.c.bankroll >= stake, strategies.c.max_stake >= stake, market_open)
        .where(within_exposure, debit_allowed)
        .values(
            bankroll=strategies.c.bankroll - stake,
            version=strategies.c.version + inline(1),
            updated_at=now,
            updated_by=actor,
        )
        .returning(strategies.c.bankroll)
        .cte("debit")
    )
    row = select(
        *(cast(bindparam(c.key, required=False), _unbounded(c)) for c in given),
        *(cast(bindparam("actor", required=False), _unbounded(c)) for c in stamped),
    ).select_from(debit)
    inserted = (
        insert(bets)
        .from_select([*given, *stamped], row, include_defaults=False)
        .returning(*bets.c)
        .cte("inserted")
    )
    stmt = select(*inserted.c, debit.c.bankroll.label("new_bankroll"))
    dialect = psycopg2.dialect()  # type: ignore[no-untyped-call]
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled)


# Both read the partitioned odds history (the price guard's latest snapshot): on their generic
# plan (see PreparedSQL), planned once per connection instead of at every bet.
DEBIT_AND_INSERT = PreparedSQL(
    "oddsdesk_bet_debit_and_insert", _debit_and_insert_sql(), lead=_LOCKS, generic=True
)

# Why a debit found no row: read after it, in the same transaction (the row locks it waited
# for are released by then, so this sees the state that refused it).
REFUSAL = text("""
    SELECT s.status, s.max_stake, s.bankroll,
           m.status = 'scheduled' AND m.kickoff_at > statement_timestamp() AS open,
           s.max_match_exposure,
           (SELECT coalesce(sum(b.stake), 0) FROM bets b
             WHERE b.tenant_id = :tenant AND b.strategy_id = :strategy
               AND b.match_id = :match AND b.status = 'open') AS open_stakes
      FROM strategies s, matches m
     WHERE s.tenant_id = :tenant AND s.id = :strategy AND m.id = :match
""")


# A bet row as the placing statement returned it (plus the strategy's new bankroll).
PlacedBet = SimpleNamespace


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status_code: int
    response_body: str


@dataclass(frozen=True)
class Refusal:
    """The state of strategy and match that refused a debit."""

    strategy_status: str
    max_stake: Decimal
    bankroll: Decimal
    market_open: bool
    max_match_exposure: Decimal | None
    open_stakes: Decimal  # the strategy's open bets on the match, staked together


@dataclass(frozen=True)
class PlacementContext:
    """Why a bet's debit placed nothing, read in one round trip."""

    locked: bool  # this transaction holds the idempotency key's lock
    strategy_status: str | None
    max_stake: Decimal | None
    match_status: str | None
    kickoff_at: datetime | None
    bookmaker_exists: bool
    # The live answer already stored under the request's idempotency key, if any.
    stored: StoredAnswer | None
    price_tolerance: Decimal | None  # the strategy's own (None: the deployment's)
    # The latest snapshot of the bet's bookmaker, market and selection (None: no guard).
    latest: LatestPrice | None


@dataclass(frozen=True)
class LatestPrice:
    price: Decimal
    captured_at: datetime
