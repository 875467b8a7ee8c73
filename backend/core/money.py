"""Money arithmetic: Decimal only, rounded half-up where the contract says so."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def round_half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(quantum(places), rounding=ROUND_HALF_UP)
