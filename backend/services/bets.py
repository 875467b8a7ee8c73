"""Placing a bet: one transaction holds the idempotency claim, the conditional bankroll debit,
the bet, its audit rows and the stored answer, so a retry can never pay twice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import orjson

from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.money import round_half_up
from backend.repositories.bet_placement import PlacementContext, Refusal, StoredAnswer
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
    line: Decimal | None = None  # ah / ou only (core/markets.py)

    @property
    def market_name(self) -> str:
        """The market as a person reads it: `1x2`, `ah -0.25`."""
        return self.market if self.line is None else f"{self.market} {self.line:.2f}"


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


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _price_guard(request: BetRequest, ctx: PlacementContext, default_tolerance: Decimal) -> None:
    """A price better than the bookmaker's latest one for the selection by more than the
    tolerance is refused (409 price-changed), with the current price in the answer: the
    client's price is stale. No snapshot: no guard."""
    latest = ctx.latest
    if latest is None:
        return
    tolerance = ctx.price_tolerance if ctx.price_tolerance is not None else default_tolerance
    # Prices have 3 places: above the ceiling is above its floor to 3 places.
    highest = (latest.price * (1 + tolerance)).quantize(Decimal("0.001"), rounding=ROUND_FLOOR)
    if request.price <= highest:
        return
    raise Conflict(
        "price-changed",
        f"price {request.price} is above {highest}: bookmaker {request.bookmaker_id}'s latest "
        f"{request.market_name} {request.selection} price is {latest.price:.3f} "
        f"(captured {_utc(latest.captured_at)}), tolerance {tolerance:.4f}",
        title="Price changed",
        members={
            "current_price": f"{latest.price:.3f}",
            "captured_at": _utc(latest.captured_at),
            "price_tolerance": f"{tolerance:.4f}",
            "max_price": f"{highest:.3f}",
        },
    )


def _refused(request: BetRequest, why: Refusal) -> Exception:
    """Why the debit found no row: the strategy or the market changed under us (paused,
    killed, a lower limit, closed), the exposure limit or the bankroll."""
    if why.strategy_status != "active":
        return _status_conflict(why.strategy_status, request.strategy_id)
    if not why.market_open:
        return _market_closed(request.match_id)
    if request.stake > why.max_stake:
        return _above_max_stake(request.stake, why.max_stake)
    limit = why.max_match_exposure
    if limit is not None and why.open_stakes + request.stake > limit:
        return Conflict(
            "exposure-limit",
            f"stake {request.stake} would bring the strategy's open stakes on match "
            f"{request.match_id} to {why.open_stakes + request.stake}, above its "
            f"max_match_exposure {limit}",
            title="Exposure limit",
            members={"max_match_exposure": f"{limit:.2f}", "open_stakes": f"{why.open_stakes:.2f}"},
        )
    return Conflict(
        "insufficient-bankroll",
        f"stake {request.stake} exceeds the bankroll {why.bankroll}",
        title="Insufficient bankroll",
    )


def _why_not_placed(
    uow: UnitOfWork,
    request: BetRequest,
    key: str,
    request_fingerprint: str,
    default_tolerance: Decimal,
) -> StoredAnswer:
    """The debit placed nothing: the answer stored under the key, to replay, or the error that
    says why, checked in the order of API.md (key in flight, key reused, strategy, match,
    bookmaker, market, stake, price, then exposure and bankroll)."""
    ctx = uow.bets.placement_context(
        request.strategy_id,
        request.match_id,
        request.bookmaker_id,
        request.market,
        request.selection,
        request.line,
        idempotency_key=key,
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
        return stored
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
    _price_guard(request, ctx, default_tolerance)
    raise _refused(request, uow.bets.refusal(request.strategy_id, request.match_id))


@use_case
def place_bet(
    uow: UnitOfWork,
    request: BetRequest,
    *,
    key: str,
    request_fingerprint: str,
    render: Callable[[Any], str],
    default_price_tolerance: Decimal,
) -> Placed:
    placed = uow.bets.place(
        {
            "id": uuid.uuid4(),
            "strategy_id": request.strategy_id,
            "match_id": request.match_id,
            "bookmaker_id": request.bookmaker_id,
            "market": request.market,
            "selection": request.selection,
            "line": request.line,
            "stake": request.stake,
            "price": request.price,
            "potential_return": round_half_up(request.stake * request.price, 2),
        },
        uow.principal.actor,
        idempotency_key=key,
        default_price_tolerance=default_price_tolerance,
    )
    if placed is None:
        stored = _why_not_placed(uow, request, key, request_fingerprint, default_price_tolerance)
        return Placed(stored.status_code, stored.response_body, replayed=True)
    bet, _ = placed
    body = render(bet)
    uow.idempotency.record(key, request_fingerprint, 201, body)
    uow.commit()  # the audit rows and the answer's record go out with the COMMIT
    return Placed(201, body, replayed=False)
