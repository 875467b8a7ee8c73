"""Tenant-scoped trading repositories: strategies (with the atomic bankroll debit), bets,
and idempotency records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    Numeric,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import psycopg2
from sqlalchemy.types import TypeEngine

from backend.core.prepared import PreparedSQL
from backend.core.transaction import stage
from backend.models.base import Base
from backend.models.reference import Match
from backend.models.trading import Bet, IdempotencyKey, Strategy
from backend.repositories.audit import AuditEntry, audit_buffer, audited_changes, audited_values
from backend.repositories.base import driver_params
from backend.repositories.locks import MARKET_LOCK
from backend.repositories.pages import View
from backend.repositories.tenant import TenantRepository

# The hot path of placing a bet: plain SQL compiled once, not a statement built per request.
# Two statements in one round trip. The first claims the idempotency key's transaction-scoped
# advisory lock without waiting (keeping the answer in a transaction-local setting), then the
# match's market lock in shared mode (see MARKET_LOCK: a settlement of the match holds it
# exclusively, so a bet either commits before the settlement starts, and is settled by it, or
# waits and then finds the market closed); the second reads the context with a snapshot taken
# after both (READ COMMITTED: one per statement), so nothing that committed before the locks
# were granted is unseen.
_LOCK_KEY = f"""
    SELECT set_config('oddsdesk.key_locked',
                      pg_try_advisory_xact_lock(hashtextextended(%(lock_id)s, 0))::text, true),
           pg_advisory_xact_lock_shared({MARKET_LOCK}, %(match)s)
"""
_PLACEMENT_CONTEXT = PreparedSQL(
    "oddsdesk_bet_context",
    """
    SELECT current_setting('oddsdesk.key_locked')::boolean,
           s.status, s.max_stake, m.status, m.kickoff_at,
           EXISTS (SELECT 1 FROM bookmakers WHERE id = %(bookmaker)s),
           k.expires_at > now(), k.fingerprint, k.status_code, k.response_body
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN strategies s ON s.tenant_id = %(tenant)s AND s.id = %(strategy)s
      LEFT JOIN matches m ON m.id = %(match)s
      LEFT JOIN idempotency_keys k ON k.tenant_id = %(tenant)s AND k.key = %(key)s
""",
    lead=_LOCK_KEY,
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
    the new bankroll. Compiled once, for psycopg2 (%(name)s parameters, constants inline)."""
    strategies, bets, matches = _table(Strategy), _table(Bet), _table(Match)
    # What a new bet must be given: its NOT NULL columns without a server default (id,
    # tenant, strategy, match, bookmaker, market, selection, stake, price, potential return),
    # each from the parameter of its name; created_by and updated_by are the actor.
    given = [c for c in bets.c if not c.nullable and c.server_default is None]
    stamped = [bets.c.created_by, bets.c.updated_by]
    # Typed where the column types them (the WHERE); the SELECT list casts its own (an
    # INSERT ... SELECT list would otherwise leave them untyped).
    stake = bindparam("stake", type_=bets.c.stake.type, required=False)
    tenant = bindparam("tenant_id", type_=strategies.c.tenant_id.type, required=False)
    strategy = bindparam("strategy_id", type_=strategies.c.id.type, required=False)
    match = bindparam("match_id", type_=matches.c.id.type, required=False)
    actor = bindparam("actor", type_=strategies.c.updated_by.type, required=False)

    def inline(value: Any) -> Any:
        return literal(value, literal_execute=True)  # rendered as a constant, not a parameter

    now = func.statement_timestamp()
    market_open = (
        select(inline(1))
        .where(matches.c.id == match, matches.c.status == inline("scheduled"))
        .where(matches.c.kickoff_at > now)
        .exists()
    )
    debit = (
        update(strategies)
        .where(strategies.c.tenant_id == tenant, strategies.c.id == strategy)
        .where(strategies.c.status == inline("active"))
        .where(strategies.c.bankroll >= stake, strategies.c.max_stake >= stake, market_open)
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


_DEBIT_AND_INSERT = PreparedSQL("oddsdesk_bet_debit_and_insert", _debit_and_insert_sql())


# Why a debit found no row: read after it, in the same transaction (the row locks it waited
# for are released by then, so this sees the state that refused it).
_REFUSAL = text("""
    SELECT s.status, s.max_stake, s.bankroll,
           m.status = 'scheduled' AND m.kickoff_at > statement_timestamp() AS open
      FROM strategies s, matches m
     WHERE s.tenant_id = :tenant AND s.id = :strategy AND m.id = :match
""")
_LEADERBOARD = """
    SELECT strategy_id, name, settled, staked, pnl, avg_clv FROM tenant_leaderboard
     ORDER BY avg_clv DESC NULLS LAST, pnl DESC, name, strategy_id
     LIMIT %(limit)s
"""
# The answer is recorded with the transaction's COMMIT (staged: nobody reads a result). An
# expired record under the key (seen by the placement context, under the key's lock) is
# deleted first; a live one cannot exist while this transaction holds the lock, and if it
# did, the INSERT's unique violation would fail the whole transaction (no bet, no debit)
# rather than pay twice.
_DROP_EXPIRED_ANSWER = PreparedSQL(
    "oddsdesk_idempotency_drop_expired",
    """
    DELETE FROM idempotency_keys
     WHERE tenant_id = %(tenant)s AND key = %(key)s AND expires_at <= now()
""",
)
_RECORD_ANSWER = PreparedSQL(
    "oddsdesk_idempotency_record",
    """
    INSERT INTO idempotency_keys
           (tenant_id, key, fingerprint, status_code, response_body, created_at, expires_at)
    VALUES (%(tenant)s, %(key)s, %(fingerprint)s, %(status)s, %(body)s, now(),
            now() + interval '24 hours')
""",
)


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


@dataclass(frozen=True)
class PlacementContext:
    """What placing a bet must know, read in one round trip."""

    locked: bool  # this transaction holds the idempotency key's lock
    strategy_status: str | None
    max_stake: Decimal | None
    match_status: str | None
    kickoff_at: datetime | None
    bookmaker_exists: bool
    # The live answer already stored under the request's idempotency key, if any.
    stored: StoredAnswer | None
    # An expired record still holds the key (the purge has not run yet): it is replaced.
    expired_record: bool


class StrategyRepository(TenantRepository[Strategy]):
    model_type: ClassVar[type[Any]] = Strategy
    entity_name = "strategy"
    list_view = View.of(
        Strategy,
        (
            "id",
            "name",
            "description",
            "status",
            "bankroll",
            "initial_bankroll",
            "max_stake",
            "kill_reason",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "version",
        ),
    )
    constraint_messages = {
        "uq_strategies_tenant_id_lower_name": "a strategy with this name already exists",
        "ck_strategies_bankroll_not_negative": "bankroll cannot go below zero",
    }


@dataclass(frozen=True)
class Performance:
    bets: int
    open: int
    settled: int
    void: int
    staked: Decimal
    returned: Decimal
    pnl: Decimal
    roi: Decimal | None
    avg_clv: Decimal | None
    beat_closing_rate: Decimal | None


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    strategy_id: uuid.UUID
    name: str
    settled: int
    pnl: Decimal
    roi: Decimal | None
    avg_clv: Decimal | None


_SETTLED = Bet.status.in_(("won", "lost"))
# Each bet's return is rounded half-up to cents before it is added (PostgreSQL's round() on
# numeric rounds half away from zero, which is half-up for these positive amounts).
_RETURN = func.round(Bet.stake * Bet.price, 2)


class BetRepository(TenantRepository[Bet]):
    model_type: ClassVar[type[Any]] = Bet
    entity_name = "bet"
    list_view = View.of(
        Bet,
        (
            "id",
            "strategy_id",
            "match_id",
            "bookmaker_id",
            "market",
            "selection",
            "stake",
            "price",
            "potential_return",
            "status",
            "placed_at",
            "settled_at",
            "closing_price",
            "clv",
            "pnl",
            "created_by",
        ),
    )
    constraint_messages = {
        "fk_bets_match_id_matches": "match_id names no match",
        "fk_bets_bookmaker_id_bookmakers": "bookmaker_id names no bookmaker",
        "fk_bets_tenant_id_strategy_id_strategies": "strategy_id names no strategy",
    }

    def placement_context(
        self, strategy_id: uuid.UUID, match_id: int, bookmaker_id: int, idempotency_key: str
    ) -> PlacementContext:
        """Claim the idempotency key (its advisory lock, without waiting), then read the
        strategy (this tenant's only), the match, the bookmaker and the live answer stored
        under the key: one round trip, the reads after the claim. When the key is held by a
        request still in flight, `locked` is False and the rest must not be used."""
        row = self._raw(
            _PLACEMENT_CONTEXT,
            {
                "lock_id": f"{self.tenant_id}:{idempotency_key}",  # hashed to the lock's key
                "tenant": str(self.tenant_id),
                "strategy": str(strategy_id),
                "match": match_id,
                "bookmaker": bookmaker_id,
                "key": idempotency_key,
            },
        ).fetchone()
        locked, strategy_status, max_stake, match_status, kickoff_at, bookmaker_exists = row[:6]
        live = row[6]
        stored = StoredAnswer(row[7], row[8], row[9]) if live else None
        return PlacementContext(
            locked,
            strategy_status,
            max_stake,
            match_status,
            kickoff_at,
            bookmaker_exists,
            stored,
            expired_record=live is False,
        )

    def place(self, values: dict[str, Any], actor: str) -> tuple[PlacedBet, Decimal] | None:
        """Debit the strategy and insert the bet in ONE statement.

        The debit is the conditional UPDATE (active, stake within max_stake and bankroll, the
        match still scheduled and before kickoff) and the bet is only inserted from its
        RETURNING row: every rule is checked against the row being updated, after any lock
        wait, so concurrent bets, risk changes and settlements can never slip past one. None
        when a rule refused it (`refusal` tells which).
        """
        cursor = self._raw(
            _DEBIT_AND_INSERT,
            driver_params({**values, "tenant_id": self.tenant_id, "actor": actor}),
        )
        found = cursor.fetchone()
        if found is None:
            return None
        row = PlacedBet(**dict(zip((d.name for d in cursor.description), found, strict=True)))
        new_bankroll: Decimal = row.new_bankroll
        stake: Decimal = values["stake"]
        audit = audit_buffer(self._source)  # the unit itself: no ORM session needed
        created = audited_values(Bet, vars(row))
        audit.record(AuditEntry("create", "bet", str(row.id), self.tenant_id, created))
        debited = audited_changes(
            Strategy, {"bankroll": new_bankroll + stake}, {"bankroll": new_bankroll}
        )
        strategy = str(values["strategy_id"])
        audit.record(AuditEntry("update", "strategy", strategy, self.tenant_id, debited))
        return row, new_bankroll

    def refusal(self, strategy_id: uuid.UUID, match_id: int) -> Refusal:
        """What refused a debit that found no row (see `place`)."""
        row = self.session.execute(
            _REFUSAL, {"tenant": self.tenant_id, "strategy": strategy_id, "match": match_id}
        ).one()
        return Refusal(row.status, row.max_stake, row.bankroll, bool(row.open))

    # The strategy's existence and its bets' aggregate in one statement, built once (its
    # compiled form is then SQLAlchemy's cached one).
    _performance: ClassVar[Select[Any] | None] = None

    def performance(self, strategy_id: uuid.UUID) -> Performance | None:
        """Counts, money and CLV of one strategy's bets, in one aggregate statement (None: no
        such strategy of this tenant)."""
        stmt = BetRepository._performance
        if stmt is None:
            with_clv = and_(_SETTLED, Bet.clv.is_not(None))
            strategy = bindparam("strategy", type_=Bet.strategy_id.type)
            tenant = bindparam("tenant", type_=Bet.tenant_id.type)
            found = (
                select(Strategy.id)
                .where(Strategy.id == strategy, Strategy.tenant_id == tenant)
                .exists()
            )
            stmt = select(
                found,
                func.count(),
                func.count().filter(Bet.status == "open"),
                func.count().filter(_SETTLED),
                func.count().filter(Bet.status == "void"),
                func.coalesce(func.sum(Bet.stake).filter(_SETTLED), 0),
                func.coalesce(func.sum(_RETURN).filter(Bet.status == "won"), 0),
                func.avg(Bet.clv).filter(with_clv),
                func.avg(case((Bet.clv > 0, 1), else_=0)).filter(with_clv),
            ).where(Bet.strategy_id == strategy, Bet.tenant_id == tenant)
            BetRepository._performance = stmt
        row = self.connection().execute(stmt, {"strategy": strategy_id, "tenant": self.tenant_id})
        exists, bets, open_, settled, void, staked, returned, avg_clv, beat = row.one()
        if not exists:
            return None
        pnl = Decimal(returned) - Decimal(staked)
        return Performance(
            bets=bets,
            open=open_,
            settled=settled,
            void=void,
            staked=Decimal(staked),
            returned=Decimal(returned),
            pnl=pnl,
            roi=pnl / Decimal(staked) if staked else None,
            avg_clv=avg_clv,
            beat_closing_rate=beat,
        )

    def leaderboard(self, limit: int) -> list[LeaderboardRow]:
        """Strategies with a settled bet, by average CLV (nulls last), then P&L, then name.

        Read from the materialized view (through the tenant-filtered view over it), which
        settlement refreshes once it has committed.
        """
        rows = self._raw(_LEADERBOARD, {"limit": limit}).fetchall()
        return [
            LeaderboardRow(
                rank=i,
                strategy_id=strategy_id,
                name=name,
                settled=settled,
                pnl=pnl,
                roi=pnl / staked if staked else None,
                avg_clv=avg_clv,
            )
            for i, (strategy_id, name, settled, staked, pnl, avg_clv) in enumerate(rows, start=1)
        ]


class IdempotencyRepository(TenantRepository[IdempotencyKey]):
    model_type: ClassVar[type[Any]] = IdempotencyKey
    entity_name = "idempotency key"

    def record(
        self, key: str, fingerprint: str, status_code: int, body: str, *, replace_expired: bool
    ) -> None:
        """Record the answer under the key, with the transaction's COMMIT (in its round
        trip); `replace_expired`: an expired record holds the key and is deleted first."""
        conn = self.connection()
        params = {
            "tenant": str(self.tenant_id),
            "key": key,
            "fingerprint": fingerprint,
            "status": status_code,
            "body": body,
        }
        if replace_expired:
            stage(conn, _DROP_EXPIRED_ANSWER, params)
        stage(conn, _RECORD_ANSWER, params)


def purge_expired(session: Any) -> int:
    """Delete expired idempotency records of every tenant (needs an RLS-bypassing unit)."""
    result = session.execute(text("DELETE FROM idempotency_keys WHERE expires_at <= now()"))
    return int(result.rowcount or 0)
