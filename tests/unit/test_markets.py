"""The settlement rule of every market (core/markets.py), on hand-picked scores: whole lines
push, quarter lines split into two half-stakes, returns rounded half-up to cents once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.core.markets import line_error, settle

D = Decimal


@pytest.mark.parametrize(
    ("market", "selection", "line", "score", "status", "returned"),
    [
        # Line-less markets: all or nothing, as before.
        ("1x2", "home", None, (2, 1), "won", "20.00"),
        ("1x2", "draw", None, (1, 1), "won", "20.00"),
        ("1x2", "away", None, (1, 1), "lost", "0.00"),
        ("ou2.5", "over", None, (2, 1), "won", "20.00"),
        ("ou2.5", "under", None, (2, 0), "won", "20.00"),
        ("ou2.5", "over", None, (1, 1), "lost", "0.00"),
        # Half lines: no push.
        ("ah", "home", "-0.5", (1, 0), "won", "20.00"),
        ("ah", "home", "-0.5", (1, 1), "lost", "0.00"),
        ("ah", "away", "-0.5", (1, 1), "won", "20.00"),  # away gets +0.5
        ("ah", "away", "1.5", (0, 1), "lost", "0.00"),  # home +1.5: away -1.5 wins by 1
        # Whole lines push: the stake comes back, void.
        ("ah", "home", "0", (1, 1), "void", "10.00"),
        ("ah", "home", "-1", (2, 1), "void", "10.00"),
        ("ah", "away", "-1", (2, 1), "void", "10.00"),
        ("ah", "home", "-1", (3, 1), "won", "20.00"),
        ("ou", "over", "3", (2, 1), "void", "10.00"),
        ("ou", "under", "2", (1, 0), "won", "20.00"),
        # Quarter lines: half at each neighbouring line.
        ("ah", "home", "-0.25", (1, 1), "half_lost", "5.00"),  # half 0 push, half -0.5 lost
        ("ah", "away", "-0.25", (1, 1), "half_won", "15.00"),  # away +0.25: push + won
        ("ah", "home", "-0.75", (1, 0), "half_won", "15.00"),  # half -0.5 won, half -1 push
        ("ah", "home", "-0.75", (2, 0), "won", "20.00"),
        ("ah", "away", "-0.75", (1, 0), "half_lost", "5.00"),
        ("ah", "home", "0.25", (0, 1), "lost", "0.00"),  # halves +0 and +0.5: both lose
        ("ou", "over", "2.25", (1, 1), "half_lost", "5.00"),
        ("ou", "under", "2.25", (1, 1), "half_won", "15.00"),
        ("ou", "over", "2.75", (2, 1), "half_won", "15.00"),
        ("ou", "over", "2.75", (2, 2), "won", "20.00"),
    ],
)
def test_each_market_settles_by_its_rule(
    market: str,
    selection: str,
    line: str | None,
    score: tuple[int, int],
    status: str,
    returned: str,
) -> None:
    outcome = settle(
        market, selection, D(line) if line else None, *score, stake=D("10.00"), price=D("2.000")
    )
    assert (outcome.status, outcome.returned) == (status, D(returned))


def test_a_half_stake_is_rounded_once_half_up() -> None:
    # 10.01 at 1.955, half won: 10.01 x (1.955 + 1) / 2 = 14.790275 -> 14.79.
    won = settle("ah", "home", D("-0.75"), 1, 0, stake=D("10.01"), price=D("1.955"))
    assert won == won.__class__("half_won", D("14.79"))
    # Half lost: 10.01 / 2 = 5.005 -> 5.01 (half-up, never banker's rounding).
    lost = settle("ah", "home", D("-0.25"), 0, 0, stake=D("10.01"), price=D("1.955"))
    assert (lost.status, lost.returned) == ("half_lost", D("5.01"))


@pytest.mark.parametrize(
    ("market", "line", "fits"),
    [
        ("1x2", None, True),
        ("1x2", "0", False),
        ("ou2.5", None, True),
        ("ah", None, False),
        ("ah", "-0.25", True),
        ("ah", "-10", True),
        ("ah", "-10.25", False),
        ("ah", "0.1", False),
        ("ou", "2.5", False),  # that line is market ou2.5
        ("ou", "2.75", True),
        ("ou", "0", False),
        ("ou", "20.25", False),
    ],
)
def test_lines_fit_their_market(market: str, line: str | None, fits: bool) -> None:
    assert (line_error(market, D(line) if line else None) is None) is fits


def test_one_list_of_markets_selections_and_statuses() -> None:
    """The API's types, the settlement rule and the database checks come from core/markets."""
    from typing import get_args

    from backend.core.markets import (
        MARKETS,
        SELECTIONS,
        SETTLED_STATUSES,
        BetStatus,
        Market,
    )

    assert tuple(MARKETS) == get_args(Market)
    assert {s for selections in MARKETS.values() for s in selections} == set(SELECTIONS)
    assert set(get_args(BetStatus)) == {"open", "void", *SETTLED_STATUSES}
