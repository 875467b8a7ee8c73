"""Decimal money and prices: strings out, numbers or strings in, never silently rounded."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from backend.core.money import quantum, round_half_up

MONEY_MAX = Decimal("999999999999.99")  # Numeric(14, 2)
PRICE_MIN, PRICE_MAX = Decimal("1.001"), Decimal("1000")
DECIMAL_STRING = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


def decimal_input(
    places: int, *, gt: Decimal | None = None, ge: Decimal | None = None, le: Decimal
) -> Any:
    def parse(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
            raise ValueError("must be a decimal number or a decimal string")
        if isinstance(value, str):
            # The JSON number grammar, ASCII digits only: no "+", "_", spaces, exponents,
            # full-width or other scripts' digits (all of which Decimal() would accept).
            if not DECIMAL_STRING.fullmatch(value):
                raise ValueError(
                    'must be a decimal string like "10" or "10.50" (ASCII digits, no sign '
                    "but '-', no spaces or exponent)"
                )
            number = Decimal(value)
        else:
            number = Decimal(value)  # a JSON number, parsed exactly (never a binary float)
        if not number.is_finite():
            raise ValueError("must be a finite number")
        if number.normalize().as_tuple().exponent < -places:  # type: ignore[operator]
            raise ValueError(f"at most {places} decimal places")
        if number == 0:
            number = abs(number)  # "-0" is 0, never "-0.00"
        if gt is not None and not number > gt:
            raise ValueError(f"must be greater than {gt}")
        if ge is not None and not number >= ge:
            raise ValueError(f"must be at least {ge}")
        if number > le:
            raise ValueError(f"must be at most {le}")
        return number.quantize(quantum(places))

    return BeforeValidator(parse)


# The decimal strings each input accepts, as OpenAPI patterns: `DECIMAL_STRING` narrowed to
# the bounds and places the parser enforces (trailing zeros past the places change nothing,
# so they are allowed). tests/api/test_openapi_money.py checks each against the parser.
STAKE_PATTERN = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0*)?|0\.(0[1-9]|[1-9][0-9]?)0*)$"
BANKROLL_PATTERN = r"^(-0(\.0+)?|(0|[1-9][0-9]{0,11})(\.[0-9]{1,2}0*)?)$"
# Rates of the rate limit: > 0, up to 9999999.999, 3 places.
RATE_PATTERN = r"^([1-9][0-9]{0,6}(\.[0-9]{1,3}0*)?|0\.(00[1-9]|0[1-9][0-9]?|[1-9][0-9]{0,2})0*)$"
# Shares (a price tolerance): 0-1 with up to 4 places ("-0" is 0, as for money).
SHARE_PATTERN = r"^(-0(\.0+)?|1(\.0+)?|0(\.[0-9]{1,4}0*)?)$"
# Lines (core/markets.py): quarter goals, an ah line from -10 to 10, an ou line from 0.25 to
# 20 but not 2.5 (that line is market ou2.5).
AH_LINE_PATTERN = r"^-?((0|[1-9])(\.(0+|250*|50*|750*))?|10(\.0+)?)$"
OU_LINE_PATTERN = (
    r"^(0\.(25|5|75)0*|([1-9]|1[0-9])(\.(0+|250*|750*))?|([13-9]|1[0-9])\.50*|20(\.0+)?)$"
)
PRICE_PATTERN = (
    r"^(1\.(00[1-9]|0[1-9][0-9]?|[1-9][0-9]{0,2})0*"
    r"|([2-9]|[1-9][0-9]{1,2})(\.[0-9]{1,3}0*)?"
    r"|1000(\.0+)?)$"
)


def input_schema(
    places: int, pattern: str, *, minimum: Decimal, exclusive: bool, le: Decimal
) -> Any:
    """What the parser accepts, as JSON Schema: a decimal string or a JSON number within the
    bounds with at most `places` decimal places."""
    number: dict[str, Any] = {
        "type": "number",
        "maximum": float(le),
        "multipleOf": float(quantum(places)),
    }
    number["exclusiveMinimum" if exclusive else "minimum"] = float(minimum)
    return WithJsonSchema({"anyOf": [{"type": "string", "pattern": pattern}, number]})


def _out(places: int) -> PlainSerializer:
    return PlainSerializer(lambda v: str(round_half_up(v, places)), return_type=str)


_STRING = WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"})

# Inputs.
Stake = Annotated[
    Decimal,
    decimal_input(2, gt=Decimal(0), le=MONEY_MAX),
    input_schema(2, STAKE_PATTERN, minimum=Decimal(0), exclusive=True, le=MONEY_MAX),
]
Bankroll = Annotated[
    Decimal,
    decimal_input(2, ge=Decimal(0), le=MONEY_MAX),
    input_schema(2, BANKROLL_PATTERN, minimum=Decimal(0), exclusive=False, le=MONEY_MAX),
]
Price = Annotated[
    Decimal,
    decimal_input(3, ge=PRICE_MIN, le=PRICE_MAX),
    input_schema(3, PRICE_PATTERN, minimum=PRICE_MIN, exclusive=False, le=PRICE_MAX),
]
Share = Annotated[
    Decimal,
    decimal_input(4, ge=Decimal(0), le=Decimal(1)),
    input_schema(4, SHARE_PATTERN, minimum=Decimal(0), exclusive=False, le=Decimal(1)),
]
# Any line of either market (-10 to 20, 2 places); which fits which market is the model's check.
Line = Annotated[
    Decimal,
    decimal_input(2, ge=Decimal(-10), le=Decimal(20)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"{AH_LINE_PATTERN}|{OU_LINE_PATTERN}"},
                {"type": "number", "minimum": -10, "maximum": 20, "multipleOf": 0.25},
            ],
            "description": "ah: the home team's handicap; ou: the goals line (core/markets)",
        }
    ),
]


def line_schema(market: str) -> dict[str, Any]:
    """What `line` must be for `market`, as JSON Schema (a quarter-goal decimal string or
    JSON number in the market's range)."""
    if market == "ah":
        return {
            "anyOf": [
                {"type": "string", "pattern": AH_LINE_PATTERN},
                {"type": "number", "minimum": -10, "maximum": 10, "multipleOf": 0.25},
            ]
        }
    return {
        "anyOf": [
            {"type": "string", "pattern": OU_LINE_PATTERN},
            {
                "type": "number",
                "minimum": 0.25,
                "maximum": 20,
                "multipleOf": 0.25,
                "not": {"const": 2.5},
            },
        ]
    }


# Outputs: money 2 places, prices 3, ratios 4, as strings.
MoneyOut = Annotated[Decimal, _out(2), _STRING]
PriceOut = Annotated[Decimal, _out(3), _STRING]
RatioOut = Annotated[Decimal, _out(4), _STRING]
LineOut = Annotated[Decimal, _out(2), _STRING]
