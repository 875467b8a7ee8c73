"""`Where.matches_nothing`: an equality no row of an integer column can meet (its value past
the column's type), answered as an empty page without a statement."""

from __future__ import annotations

import pytest

from backend.models.reference import Match
from backend.models.trading import Bet
from backend.repositories.pages import Where


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**70])
def test_an_integer_past_the_columns_type_matches_nothing(value: int) -> None:
    assert Where(Bet.match_id, value).matches_nothing
    assert Where(Match.home_team_id, value, either=Match.away_team_id).matches_nothing


@pytest.mark.parametrize("value", [2**31 - 1, 1, 0, -5, -(2**31)])
def test_a_value_the_column_can_hold_is_queried(value: int) -> None:
    assert not Where(Bet.match_id, value).matches_nothing


def test_only_equalities_on_integer_columns_are_judged() -> None:
    assert not Where(Bet.match_id, 2**40, "ge").matches_nothing
    assert not Where(Bet.status, "x" * 10).matches_nothing
    assert not Where(Bet.match_id, True).matches_nothing
