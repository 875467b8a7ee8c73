"""Placing a bet: one transaction holds the idempotency claim, the conditional bankroll debit,
the bet, its audit rows and the stored answer, so a retry can never pay twice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.money import round_half_up
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.use_case import use_case


@dataclass(frozen=True)
class BetRequest:
    strategy_id: uuid.UUID
    match_id: int
    bookmaker_id: int
    market: str
    selection: str
    stake: Decimal
    price: Decimal


@dataclass(frozen=True)
class Placed:
    status_code: int
    body: str
    replayed: bool


def fingerprint(fields: Mapping[str, str]) -> str:
    """A hash of the validated request, independent of key order and number spelling."""
    return hashlib.sha256(orjson.dumps(dict(fields), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _status_conflict(status: str, strategy_id: uuid.UUID) -> Conflict:
    return Conflict(
        f"strategy-{status}",
        f"strategy {strategy_id} is {status}; it takes no bets",
        title=f"Strategy {status}",
    )


def _market_closed(match_id: int) -> Conflict:
    return Conflict(
        "market-closed",
        f"match {match_id} takes no more bets: it has kicked off, finished or been cancelled",
        title="Market closed",
    )


def _above_max_stake(stake: Decimal, max_stake: Decimal) -> InvalidInput:
    return InvalidInput(
        f"stake {stake} is above the strategy's max_stake {max_stake}", loc=("body", "stake")
    )


@use_case
def place_bet(
    uow: UnitOfWork,
    request: BetRequest,
    *,
    key: str,
    request_fingerprint: str,
    render: Callable[[Any], str],
) -> Placed:
    ctx = uow.bets.placement_context(
        request.strategy_id, request.match_id, request.bookmaker_id, idempotency_key=key
    )
    if not ctx.locked:
        raise Conflict(
            "idempotency-key-in-flight",
            "a request with this Idempotency-Key is still being processed; retry shortly",
            title="Idempotency key in flight",
        )
    stored = ctx.stored
    if stored is not None:
        if stored.fingerprint != request_fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was used with a different request",
                loc=("header", "idempotency-key"),
                code="idempotency-key-reused",
                title="Idempotency key reused",
            )
        return Placed(stored.status_code, stored.response_body, replayed=True)

    if ctx.strategy_status is None:
        raise NotFound("strategy", request.strategy_id)
    if ctx.strategy_status != "active":
        raise _status_conflict(ctx.strategy_status, request.strategy_id)
    if ctx.match_status is None or ctx.kickoff_at is None:
        raise InvalidInput(f"match {request.match_id} does not exist", loc=("body", "match_id"))
    if not ctx.bookmaker_exists:
        raise InvalidInput(
            f"bookmaker {request.bookmaker_id} does not exist", loc=("body", "bookmaker_id")
        )
    if ctx.match_status != "scheduled" or ctx.kickoff_at <= datetime.now(UTC):
        raise _market_closed(request.match_id)
    assert ctx.max_stake is not None
    if request.stake > ctx.max_stake:
        raise _above_max_stake(request.stake, ctx.max_stake)

    placed = uow.bets.place(
        {
            "id": uuid.uuid4(),
            "strategy_id": request.strategy_id,
            "match_id": request.match_id,
            "bookmaker_id": request.bookmaker_id,
            "market": request.market,
            "selection": request.selection,
            "stake": request.stake,
            "price": request.price,
            "potential_return": round_half_up(request.stake * request.price, 2),
        },
        uow.principal.actor,
    )
    if placed is None:
        # A rule checked by the debit itself refused it: the strategy changed under us
        # (paused, killed, a lower max_stake), the market closed, or the bankroll is short.
        why = uow.bets.refusal(request.strategy_id, request.match_id)
        if why.strategy_status != "active":
            raise _status_conflict(why.strategy_status, request.strategy_id)
        if not why.market_open:
            raise _market_closed(request.match_id)
        if request.stake > why.max_stake:
            raise _above_max_stake(request.stake, why.max_stake)
        raise Conflict(
            "insufficient-bankroll",
            f"stake {request.stake} exceeds the bankroll {why.bankroll}",
            title="Insufficient bankroll",
        )
    bet, _ = placed
    body = render(bet)
    uow.idempotency.record(key, request_fingerprint, 201, body, replace_expired=ctx.expired_record)
    uow.commit()  # the audit rows and the answer's record go out with the COMMIT
    return Placed(201, body, replayed=False)
