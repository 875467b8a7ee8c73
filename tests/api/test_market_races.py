"""Money under races, repeated: bettors against a match's close and a strategy's risk changes.

Each race runs 20 times with 8 bettor threads (distinct idempotency keys), and after every run
checks what a desk would audit: no open bet on a finished or cancelled match, every bankroll
equal to initial - open stakes + returns, tenant audit rows equal to the accepted mutations.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import bet_body, idem, make_bookmaker, make_match, make_strategy, make_tenant

ROUNDS = 20
BETTORS = 8
STRATEGIES = 4


def _slug(response: Any) -> str:
    if response.status_code < 400:
        return ""
    return str(response.json().get("type", "")).rsplit("/", 1)[-1]


class Bettors:
    """BETTORS threads placing bets on one match until they are refused with `stop_on`."""

    def __init__(
        self,
        client: TestClient,
        headers: dict[str, str],
        bodies: list[dict[str, Any]],
        stop_on: str,
    ) -> None:
        self.client, self.headers, self.bodies, self.stop_on = client, headers, bodies, stop_on
        self.results: Counter[tuple[int, str]] = Counter()
        self.accepted = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=BETTORS)
        self._futures = [self._pool.submit(self._bet, i) for i in range(BETTORS)]

    def _bet(self, i: int) -> None:
        body = self.bodies[i % len(self.bodies)]
        for _ in range(400):  # bounded: a run that never closes fails below, never hangs
            response = self.client.post("/v1/bets", json=body, headers=idem(self.headers))
            outcome = (response.status_code, _slug(response))
            with self._lock:
                self.results[outcome] += 1
                if response.status_code == 201:
                    self.accepted += 1
            if outcome[1] == self.stop_on:
                return

    def wait_for(self, accepted: int) -> None:
        deadline = time.monotonic() + 10
        while self.accepted < accepted and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.accepted >= accepted, self.results

    def join(self) -> Counter[tuple[int, str]]:
        for future in self._futures:
            future.result(timeout=60)
        self._pool.shutdown()
        return self.results


def _expected_bankroll(engine: Engine, strategy_id: str, initial: Decimal) -> Decimal:
    """initial - open stakes + returns (won: stake x price half-up to cents; void: stake)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT stake, price, status FROM bets WHERE strategy_id = :s"), {"s": strategy_id}
        ).all()
    total = initial
    for stake, price, status in rows:
        total -= stake
        if status == "won":
            total += (stake * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        elif status == "void":
            total += stake
    return total


def _check_books(
    engine: Engine, tenant_id: str, match_id: int, strategies: list[dict[str, Any]]
) -> dict[str, int]:
    with engine.connect() as conn:
        open_bets = conn.execute(
            text("SELECT count(*) FROM bets WHERE match_id = :m AND status = 'open'"),
            {"m": match_id},
        ).scalar_one()
        assert open_bets == 0, f"{open_bets} bets left open on a closed match"
        for s in strategies:
            bankroll = conn.execute(
                text("SELECT bankroll FROM strategies WHERE id = :s"), {"s": s["id"]}
            ).scalar_one()
            expected = _expected_bankroll(engine, s["id"], Decimal(s["initial_bankroll"]))
            assert bankroll == expected, (s["id"], bankroll, expected)
        counts = conn.execute(
            text(
                "SELECT action, entity_type, count(*) FROM audit_log WHERE tenant_id = :t "
                "GROUP BY action, entity_type"
            ),
            {"t": tenant_id},
        ).all()
    return {f"{action} {entity}": n for action, entity, n in counts}


def _round(
    client: TestClient, admin: dict[str, str], kickoff: datetime
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any], list[dict[str, Any]], int]:
    tenant, headers = make_tenant(client, admin)
    match = make_match(client, admin, kickoff_at=kickoff.isoformat().replace("+00:00", "Z"))
    book = make_bookmaker(client, admin)
    strategies = [
        make_strategy(client, headers, bankroll="100000.00", max_stake="100.00")
        for _ in range(STRATEGIES)
    ]
    return tenant, headers, match, strategies, book["id"]


def test_cancel_while_bets_arrive_voids_every_bet_and_always_wins(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    waits = []
    for _ in range(ROUNDS):
        tenant, headers, match, strategies, book = _round(
            client, admin_headers, datetime.now(UTC) + timedelta(days=30)
        )
        bodies = [bet_body(s["id"], match["id"], book) for s in strategies]
        bettors = Bettors(client, headers, bodies, stop_on="market-closed")
        bettors.wait_for(BETTORS)
        started = time.monotonic()
        cancelled = client.post(f"/v1/matches/{match['id']}/cancel", headers=admin_headers)
        waits.append(time.monotonic() - started)
        results = bettors.join()
        assert cancelled.status_code == 200, cancelled.text
        assert waits[-1] < 1.0, waits
        # Every bet either committed before the cancel (and was voided by it) or was refused.
        assert set(results) <= {(201, ""), (409, "market-closed")}, results
        assert cancelled.json()["voided_bets"] == bettors.accepted
        audit = _check_books(raw_engine, tenant["id"], match["id"], strategies)
        credited = len({b["strategy_id"] for b in bodies})
        assert audit == {
            "create strategy": STRATEGIES,
            "create bet": bettors.accepted,
            "update strategy": bettors.accepted + credited,
            "void bet": bettors.accepted,
        }
    assert max(waits) < 1.0


def test_result_at_kickoff_while_bets_arrive_settles_every_bet(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    for _ in range(ROUNDS):
        kickoff = datetime.now(UTC) + timedelta(seconds=0.8)
        tenant, headers, match, strategies, book = _round(client, admin_headers, kickoff)
        bodies = [bet_body(s["id"], match["id"], book, selection="home") for s in strategies]
        bettors = Bettors(client, headers, bodies, stop_on="market-closed")
        time.sleep(max(0.0, (kickoff - datetime.now(UTC)).total_seconds()))
        for _ in range(100):  # the result is refused until the server's clock passes kickoff
            settled = client.post(
                f"/v1/matches/{match['id']}/result",
                json={"home_score": 1, "away_score": 0},
                headers=admin_headers,
            )
            if _slug(settled) != "match-not-started":
                break
            time.sleep(0.002)
        results = bettors.join()
        assert settled.status_code == 200, settled.text
        assert set(results) <= {(201, ""), (409, "market-closed")}, results
        assert bettors.accepted > 0
        assert settled.json()["settled_bets"] == bettors.accepted
        audit = _check_books(raw_engine, tenant["id"], match["id"], strategies)
        with raw_engine.connect() as conn:
            credited = conn.execute(
                text("SELECT count(DISTINCT strategy_id) FROM bets WHERE match_id = :m"),
                {"m": match["id"]},
            ).scalar_one()
        assert audit == {
            "create strategy": STRATEGIES,
            "create bet": bettors.accepted,
            "update strategy": bettors.accepted + credited,
            "settle bet": bettors.accepted,
        }


def _bets_of(engine: Engine, strategy_id: str, stake: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM bets WHERE strategy_id = :s AND stake = :k"),
                {"s": strategy_id, "k": stake},
            ).scalar_one()
        )


def test_lowering_max_stake_stops_bets_in_flight_at_once_without_if_match(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    for _ in range(ROUNDS):
        _, headers, match, strategies, book = _round(
            client, admin_headers, datetime.now(UTC) + timedelta(days=30)
        )
        strategy = strategies[0]
        body = bet_body(strategy["id"], match["id"], book, stake="100.00")
        bettors = Bettors(client, headers, [body], stop_on="validation-error")
        bettors.wait_for(BETTORS)
        started = time.monotonic()
        changed = client.post(
            f"/v1/strategies/{strategy['id']}/limits",
            json={"max_stake": "1.00", "reason": "risk off"},
            headers=headers,
        )
        waited = time.monotonic() - started
        results = bettors.join()
        assert changed.status_code == 200, changed.text  # first try: no If-Match to go stale
        assert waited < 1.0
        after = changed.json()
        assert after["max_stake"] == "1.00"
        # Versions move once per debit and once for the change: every bet of 100 that was
        # debited came before it (the debit checks max_stake against the row it updates).
        assert _bets_of(raw_engine, strategy["id"], "100.00") == after["version"] - 2
        assert set(results) <= {(201, ""), (422, "validation-error")}, results
        final = client.get(f"/v1/strategies/{strategy['id']}", headers=headers).json()
        assert final["version"] == after["version"]
        assert Decimal(final["bankroll"]) == _expected_bankroll(
            raw_engine, strategy["id"], Decimal("100000.00")
        )


def test_pausing_a_busy_strategy_is_immediate_and_final(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    for _ in range(ROUNDS):
        _, headers, match, strategies, book = _round(
            client, admin_headers, datetime.now(UTC) + timedelta(days=30)
        )
        strategy = strategies[0]
        body = bet_body(strategy["id"], match["id"], book)
        bettors = Bettors(client, headers, [body], stop_on="strategy-paused")
        bettors.wait_for(BETTORS)
        started = time.monotonic()
        paused = client.post(
            f"/v1/strategies/{strategy['id']}/pause", json={"reason": "review"}, headers=headers
        )
        waited = time.monotonic() - started
        results = bettors.join()
        assert paused.status_code == 200, paused.text
        assert waited < 1.0
        assert paused.json()["status"] == "paused"
        assert _bets_of(raw_engine, strategy["id"], "10.00") == paused.json()["version"] - 2
        assert set(results) <= {(201, ""), (409, "strategy-paused")}, results
