"""The backtest ledger's rules on hand-made candidates: staking, grouping by kickoff, the
bankroll it may not overdraw, rounding and the drawdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from backend.repositories.backtests import Candidate
from backend.services.backtest_ledger import (
    Ledger,
    Skip,
    Staking,
    StakingRule,
    fair_probability,
    kelly_stake,
    run,
)

T0 = datetime(2024, 1, 6, 15, tzinfo=UTC)
FLAT_10 = StakingRule(Staking.flat, stake=Decimal("10.00"))


def _c(
    match_id: int,
    score: tuple[int, int],
    price: str | None,
    kickoff: datetime = T0,
    closing: str | None = None,
    market: dict[str, str] | None = None,
) -> Candidate:
    return Candidate(
        match_id=match_id,
        kickoff_at=kickoff,
        league="L",
        season="S",
        home_team="H",
        away_team="A",
        home_score=score[0],
        away_score=score[1],
        price=Decimal(price) if price else None,
        closing_price=Decimal(closing) if closing else None,
        closing_market={k: Decimal(v) for k, v in (market or {}).items()},
    )


def _run(
    candidates: list[Candidate],
    staking: StakingRule = FLAT_10,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> Ledger:
    return run(
        candidates,
        market="1x2",
        selection="home",
        selections=3,
        staking=staking,
        bankroll=Decimal("100.00"),
        min_price=min_price,
        max_price=max_price,
    )


def test_returns_round_half_up_per_bet_and_clv_to_four_places() -> None:
    ledger = _run([_c(1, (2, 1), "2.155", closing="2.000"), _c(2, (0, 0), "3.000")])
    won, lost = ledger.bets
    assert (won.returned, won.pnl, won.clv) == (
        Decimal("21.55"),
        Decimal("11.55"),
        Decimal("0.0775"),
    )
    assert (lost.returned, lost.pnl, lost.clv) == (Decimal("0.00"), Decimal("-10.00"), None)
    assert ledger.final_bankroll == Decimal("101.55")
    assert ledger.avg_clv == Decimal("0.0775") and ledger.beat_closing_rate == 1


def test_stakes_at_one_kickoff_come_from_the_bankroll_before_it() -> None:
    """Three 40.00 bets at one kickoff on a bankroll of 100.00: the third cannot be covered,
    even though the first two win (their returns arrive after the match)."""
    same = [_c(i, (1, 0), "2.000") for i in (1, 2, 3)]
    later = _c(4, (1, 0), "2.000", kickoff=T0 + timedelta(days=1))
    ledger = _run([*same, later], StakingRule(Staking.flat, stake=Decimal("40.00")))
    assert [b.candidate.match_id for b in ledger.bets] == [1, 2, 4]
    assert ledger.skipped[Skip.bankroll] == 1
    assert [p.bankroll for p in ledger.equity] == [Decimal("180.00"), Decimal("220.00")]


def test_no_price_and_the_band_are_counted_not_bet() -> None:
    ledger = _run(
        [_c(1, (1, 0), None), _c(2, (1, 0), "1.500"), _c(3, (1, 0), "2.500")],
        min_price=Decimal("2.000"),
        max_price=Decimal("3.000"),
    )
    assert [b.candidate.match_id for b in ledger.bets] == [3]
    assert ledger.skipped[Skip.no_price] == 1 and ledger.skipped[Skip.outside_band] == 1
    assert ledger.matches == 3


def test_kelly_uses_the_margin_free_probability_and_skips_no_edge() -> None:
    market = {"home": "2.000", "draw": "4.000", "away": "4.000"}  # 0.5 + 0.25 + 0.25: no margin
    p = fair_probability("home", {k: Decimal(v) for k, v in market.items()}, 3)
    assert p == Decimal("0.5")
    # Full Kelly at 2.5 with p = 0.5: (1.25 - 1) / 1.5 = 1/6 of the bankroll.
    assert kelly_stake(Decimal("0.5"), Decimal("2.5"), Decimal(1), Decimal("120.00")) == 20
    kelly = StakingRule(Staking.kelly, fraction=Decimal("0.5"))
    ledger = _run(
        [
            _c(1, (1, 0), "2.500", market=market),  # edge: half of 1/6 of 100.00 = 8.33
            _c(2, (1, 0), "1.900", market=market),  # p * d < 1: no edge
            _c(3, (1, 0), "2.500", market={"home": "2.000"}),  # incomplete market
        ],
        kelly,
    )
    assert [b.stake for b in ledger.bets] == [Decimal("8.33")]
    assert ledger.skipped[Skip.no_edge] == 1 and ledger.skipped[Skip.no_probability] == 1


def test_the_drawdown_is_measured_from_the_running_peak() -> None:
    days = [T0 + timedelta(days=i) for i in range(4)]
    ledger = _run(
        [
            _c(1, (1, 0), "3.000", days[0]),  # 120
            _c(2, (0, 1), "3.000", days[1]),  # 110
            _c(3, (0, 1), "3.000", days[2]),  # 100
            _c(4, (1, 0), "3.000", days[3]),  # 120
        ]
    )
    assert ledger.max_drawdown == (Decimal("20.00"), Decimal("20.00") / Decimal("120.00"))
