"""Decimal money and prices: strings out, numbers or strings in, never silently rounded."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from backend.core.money import quantum, round_half_up

MONEY_MAX = Decimal("999999999999.99")  # Numeric(14, 2)
PRICE_MIN, PRICE_MAX = Decimal("1.001"), Decimal("1000")


def _decimal_input(
    places: int, *, gt: Decimal | None = None, ge: Decimal | None = None, le: Decimal
) -> Any:
    def parse(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError("must be a decimal number or a decimal string")
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("must be a decimal number or a decimal string") from None
        if not number.is_finite():
            raise ValueError("must be a finite number")
        if number.normalize().as_tuple().exponent < -places:  # type: ignore[operator]
            raise ValueError(f"at most {places} decimal places")
        if gt is not None and not number > gt:
            raise ValueError(f"must be greater than {gt}")
        if ge is not None and not number >= ge:
            raise ValueError(f"must be at least {ge}")
        if number > le:
            raise ValueError(f"must be at most {le}")
        return number.quantize(quantum(places))

    return BeforeValidator(parse)


def _out(places: int) -> PlainSerializer:
    return PlainSerializer(lambda v: str(round_half_up(v, places)), return_type=str)


_STRING = WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"})
_INPUT = WithJsonSchema(
    {"anyOf": [{"type": "string", "pattern": r"^\s*-?\d+(\.\d+)?\s*$"}, {"type": "number"}]}
)

# Inputs.
Stake = Annotated[Decimal, _decimal_input(2, gt=Decimal(0), le=MONEY_MAX), _INPUT]
Bankroll = Annotated[Decimal, _decimal_input(2, ge=Decimal(0), le=MONEY_MAX), _INPUT]
Price = Annotated[Decimal, _decimal_input(3, ge=PRICE_MIN, le=PRICE_MAX), _INPUT]

# Outputs: money 2 places, prices 3, ratios 4, as strings.
MoneyOut = Annotated[Decimal, _out(2), _STRING]
PriceOut = Annotated[Decimal, _out(3), _STRING]
RatioOut = Annotated[Decimal, _out(4), _STRING]
