"""Placing a bet: one transaction holds the idempotency claim, the conditional bankroll debit,
the bet, its audit rows and the stored answer, so a retry can never pay twice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.money import round_half_up
from backend.models.trading import Bet
from backend.repositories.unit_of_work import UnitOfWork


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


def place_bet(
    uow: UnitOfWork,
    request: BetRequest,
    *,
    key: str,
    request_fingerprint: str,
    render: Callable[[Bet], str],
) -> Placed:
    if not uow.idempotency.try_lock(key):
        raise Conflict(
            "idempotency-key-in-flight",
            "a request with this Idempotency-Key is still being processed; retry shortly",
            title="Idempotency key in flight",
        )
    stored = uow.idempotency.find_live(key)
    if stored is not None:
        if stored.fingerprint != request_fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was used with a different request",
                loc=("header", "idempotency-key"),
                code="idempotency-key-reused",
                title="Idempotency key reused",
            )
        return Placed(stored.status_code, stored.response_body, replayed=True)

    strategy = uow.strategies.get(request.strategy_id)
    if strategy is None:
        raise NotFound("strategy", request.strategy_id)
    if strategy.status != "active":
        raise _status_conflict(strategy.status, strategy.id)
    match = uow.matches.get(request.match_id)
    if match is None:
        raise InvalidInput(f"match {request.match_id} does not exist", loc=("body", "match_id"))
    if uow.bookmakers.get(request.bookmaker_id) is None:
        raise InvalidInput(
            f"bookmaker {request.bookmaker_id} does not exist", loc=("body", "bookmaker_id")
        )
    if match.status != "scheduled" or match.kickoff_at <= datetime.now(UTC):
        raise Conflict(
            "market-closed",
            f"match {match.id} is {match.status} with kickoff at {match.kickoff_at.isoformat()}; "
            "bets close at kickoff",
            title="Market closed",
        )
    if request.stake > strategy.max_stake:
        raise InvalidInput(
            f"stake {request.stake} is above the strategy's max_stake {strategy.max_stake}",
            loc=("body", "stake"),
        )

    debit = uow.strategies.debit(strategy.id, request.stake, uow.principal.actor)
    if debit is None:
        # The strategy changed under us (killed or paused) or the bankroll is short.
        current = uow.strategies.get_one(strategy.id, refresh=True)
        if current.status != "active":
            raise _status_conflict(current.status, current.id)
        raise Conflict(
            "insufficient-bankroll",
            f"stake {request.stake} exceeds the bankroll {current.bankroll}",
            title="Insufficient bankroll",
        )

    bet = uow.bets.add(
        Bet(
            strategy_id=strategy.id,
            match_id=match.id,
            bookmaker_id=request.bookmaker_id,
            market=request.market,
            selection=request.selection,
            stake=request.stake,
            price=request.price,
            potential_return=round_half_up(request.stake * request.price, 2),
        )
    )
    body = render(bet)
    uow.idempotency.save(key, request_fingerprint, 201, body)
    uow.commit()
    return Placed(201, body, replayed=False)
