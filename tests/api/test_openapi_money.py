"""The money and price schemas in the OpenAPI document accept exactly what the parser accepts.

Each input type's JSON Schema is a decimal-string pattern or a bounded JSON number with a
`multipleOf`; both are checked against `backend/api/schemas/money.py`'s parser, on strings
built from the characters that matter (digits, sign, point) and on decimals around the bounds.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from backend.api.schemas.backtests import KellyFraction
from backend.api.schemas.money import Bankroll, Price, Share, Stake
from backend.api.schemas.tenants import RatePerSecond

TYPES: dict[str, Any] = {
    "stake": Stake,
    "bankroll": Bankroll,
    "price": Price,
    "kelly_fraction": KellyFraction,
    "rate_per_s": RatePerSecond,
    "share": Share,
}
ADAPTERS = {name: TypeAdapter(t) for name, t in TYPES.items()}
SCHEMAS = {name: adapter.json_schema() for name, adapter in ADAPTERS.items()}


def _accepted(name: str, value: Any) -> bool:
    try:
        ADAPTERS[name].validate_python(value)
    except ValidationError:
        return False
    return True


def _string_valid(name: str, value: str) -> bool:
    string = SCHEMAS[name]["anyOf"][0]
    return re.search(string["pattern"], value) is not None


def _number_valid(name: str, value: Decimal) -> bool:
    number = SCHEMAS[name]["anyOf"][1]
    if "minimum" in number and value < Decimal(str(number["minimum"])):
        return False
    if "exclusiveMinimum" in number and value <= Decimal(str(number["exclusiveMinimum"])):
        return False
    if value > Decimal(str(number["maximum"])):
        return False
    return value % Decimal(str(number["multipleOf"])) == 0


decimal_text = st.text(alphabet="0123456789.-", min_size=1, max_size=18)
BOUNDS = ("0", "0.01", "0.001", "1", "1.001", "1.0001", "999.999", "1000", "1000.001")
MONEY_BOUNDS = ("999999999999.99", "999999999999.999", "1000000000000", "-0", "-0.00", "-0.001")
# The Kelly fraction (0, 1] at 4 places and the rate (0, 9999999.999] at 3.
FRACTION_BOUNDS = ("0.0001", "0.00001", "0.5", "0.12345", "1.0000", "1.00001", "0.0010")
RATE_BOUNDS = ("9999999.999", "9999999.9990", "10000000", "0.001", "0.0001", "0.000")
near_bounds = st.sampled_from((*BOUNDS, *MONEY_BOUNDS, *FRACTION_BOUNDS, *RATE_BOUNDS))


@pytest.mark.parametrize("name", sorted(TYPES))
@settings(max_examples=400, deadline=None)
@given(text=st.one_of(decimal_text, near_bounds))
def test_the_string_pattern_is_the_parsers_rule(name: str, text: str) -> None:
    assert _string_valid(name, text) is _accepted(name, text), text


@pytest.mark.parametrize("name", sorted(TYPES))
@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        st.decimals(
            min_value=Decimal("-1"), max_value=Decimal("1000000000001"), places=4, allow_nan=False
        ),
        st.decimals(min_value=Decimal("-1"), max_value=Decimal("1001"), places=3, allow_nan=False),
        near_bounds.map(Decimal),
    )
)
def test_the_number_bounds_are_the_parsers_rule(name: str, value: Decimal) -> None:
    # A JSON number arrives as an int or an exact Decimal (see backend/api/routing.parse_json).
    number: Any = int(value) if value == value.to_integral_value() else value
    assert _number_valid(name, value) is _accepted(name, number), value


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("stake", "+10"),
        ("stake", " 10"),
        ("stake", "1e1"),
        ("stake", "010"),
        ("stake", "\uff11\uff10"),  # full-width digits
        ("stake", "\u0661\u0660"),  # Arabic-Indic digits
        ("stake", "1_000"),
        ("price", "2.1500"),
        ("bankroll", "-0.00"),
        ("rate_per_s", ""),
        ("rate_per_s", "0"),
        ("kelly_fraction", ""),
        ("kelly_fraction", "01"),
        ("share", "-0.0000"),
        ("share", "0.02000"),
        ("share", "00.5"),
    ],
)
def test_the_listed_spellings_agree(name: str, text: str) -> None:
    assert _string_valid(name, text) is _accepted(name, text)
