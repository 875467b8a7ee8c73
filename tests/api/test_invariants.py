"""Randomized stateful test: money and audit invariants under any sequence of operations.

A model tracks what the API promises; after every step the real service (real commits) must
agree: no bankroll below zero, bankroll = initial - open stakes - lost stakes + returns,
tenant audit rows = accepted mutations, and every replay answers the original bytes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import Engine, text

from tests.conftest import ADMIN_KEY

INITIAL = Decimal("200.00")
PRICE = Decimal("2.500")


@dataclass
class ModelBet:
    strategy: int
    match: int
    stake: Decimal
    selection: str
    status: str = "open"


@dataclass
class ModelStrategy:
    id: str
    status: str = "active"
    version: int = 1
    bankroll: Decimal = INITIAL
    description: str | None = None


@dataclass
class World:
    strategies: list[ModelStrategy] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    bets: dict[str, ModelBet] = field(default_factory=dict)
    sent: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    audits: int = 0


class Money(RuleBasedStateMachine):
    client: TestClient
    engine: Engine
    counts: dict[str, int] = {}

    def _count(self, what: str) -> None:
        Money.counts[what] = Money.counts.get(what, 0) + 1

    @initialize()
    def setup(self) -> None:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        self.admin = admin
        tenant = self.client.post(
            "/v1/admin/tenants", json={"name": f"SM {uuid.uuid4().hex}"}, headers=admin
        ).json()
        self.tenant_id = tenant["id"]
        self.headers = {"Authorization": f"Bearer {tenant['api_key']['key']}"}
        self.world = World()
        book = self.client.post(
            "/v1/bookmakers", json={"name": f"SM {uuid.uuid4().hex}"}, headers=admin
        ).json()
        self.book = book["id"]
        for _ in range(2):
            s = self.client.post(
                "/v1/strategies",
                headers=self.headers,
                json={"name": f"S {uuid.uuid4().hex}", "bankroll": str(INITIAL), "max_stake": "80"},
            )
            assert s.status_code == 201
            self.world.strategies.append(ModelStrategy(id=s.json()["id"]))
            self.world.audits += 1
        for _ in range(3):
            home = self.client.post(
                "/v1/teams", json={"name": f"H {uuid.uuid4().hex}"}, headers=admin
            ).json()
            away = self.client.post(
                "/v1/teams", json={"name": f"A {uuid.uuid4().hex}"}, headers=admin
            ).json()
            m = self.client.post(
                "/v1/matches",
                headers=admin,
                json={
                    "league": "SM",
                    "season": "2035-36",
                    "home_team_id": home["id"],
                    "away_team_id": away["id"],
                    "kickoff_at": "2035-03-01T15:00:00Z",
                },
            ).json()
            self.world.matches.append({"id": m["id"], "status": "scheduled"})

    # -- rules -------------------------------------------------------------------------------

    @rule(
        s=st.integers(0, 1),
        m=st.integers(0, 2),
        stake=st.integers(1, 90),
        selection=st.sampled_from(["home", "draw", "away"]),
    )
    def place(self, s: int, m: int, stake: int, selection: str) -> None:
        self._count("place")
        strategy, match = self.world.strategies[s], self.world.matches[m]
        key = uuid.uuid4().hex
        body = {
            "strategy_id": strategy.id,
            "match_id": match["id"],
            "bookmaker_id": self.book,
            "market": "1x2",
            "selection": selection,
            "stake": str(stake),
            "price": str(PRICE),
        }
        r = self.client.post(
            "/v1/bets", json=body, headers={**self.headers, "Idempotency-Key": key}
        )
        amount = Decimal(stake)
        # The service's order: the strategy's state, the market, the stake limit, the money.
        if strategy.status != "active":
            assert r.status_code == 409
            assert r.json()["type"].endswith(f"strategy-{strategy.status}")
        elif match["status"] != "scheduled":
            assert r.status_code == 409
            assert r.json()["type"].endswith("market-closed")
        elif stake > 80:
            assert r.status_code == 422
        elif amount > strategy.bankroll:
            assert r.status_code == 409
            assert r.json()["type"].endswith("insufficient-bankroll")
        else:
            assert r.status_code == 201, r.text
            strategy.bankroll -= amount
            strategy.version += 1
            self.world.bets[r.json()["id"]] = ModelBet(s, m, amount, selection)
            self.world.sent[key] = (body, r.content)
            self.world.audits += 2  # the bet's create, the strategy's bankroll update

    @precondition(lambda self: bool(self.world.sent))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        self._count("replay")
        key = data.draw(st.sampled_from(sorted(self.world.sent)))
        body, original = self.world.sent[key]
        r = self.client.post(
            "/v1/bets", json=body, headers={**self.headers, "Idempotency-Key": key}
        )
        assert r.status_code == 201
        assert r.content == original
        assert r.headers["idempotent-replayed"] == "true"

    @rule(s=st.integers(0, 1), kill=st.booleans())
    def kill_or_resume(self, s: int, kill: bool) -> None:
        self._count("kill" if kill else "resume")
        strategy = self.world.strategies[s]
        path = "kill" if kill else "resume"
        r = self.client.post(
            f"/v1/strategies/{strategy.id}/{path}", json={"reason": "sm"}, headers=self.headers
        )
        assert r.status_code == 200
        target = "killed" if kill else "active"
        if strategy.status != target:
            strategy.status = target
            strategy.version += 1
            self.world.audits += 1
        assert r.json()["version"] == strategy.version

    @rule(s=st.integers(0, 1), stale=st.booleans(), pause=st.booleans())
    def patch(self, s: int, stale: bool, pause: bool) -> None:
        self._count("patch-stale" if stale else "patch")
        strategy = self.world.strategies[s]
        etag = f'"{strategy.version - 1 if stale else strategy.version}"'
        change: dict[str, Any] = {"description": uuid.uuid4().hex}
        if strategy.status in ("active", "paused"):
            change["status"] = "paused" if pause else "active"
        r = self.client.patch(
            f"/v1/strategies/{strategy.id}", json=change, headers={**self.headers, "If-Match": etag}
        )
        if stale:
            assert r.status_code == 412
        elif strategy.status == "killed":
            assert r.status_code == 409
        else:
            assert r.status_code == 200, r.text
            strategy.status = change.get("status", strategy.status)
            strategy.version += 1
            self.world.audits += 1

    @precondition(lambda self: any(m["status"] == "scheduled" for m in self.world.matches))
    @rule(data=st.data(), cancel=st.booleans(), home=st.integers(0, 3), away=st.integers(0, 3))
    def decide(self, data: st.DataObject, cancel: bool, home: int, away: int) -> None:
        self._count("cancel" if cancel else "result")
        open_matches = [i for i, m in enumerate(self.world.matches) if m["status"] == "scheduled"]
        index = data.draw(st.sampled_from(open_matches))
        match = self.world.matches[index]
        with self.engine.begin() as conn:  # the match kicks off
            conn.execute(
                text("UPDATE matches SET kickoff_at = :k WHERE id = :m"),
                {"k": datetime.now(UTC) - timedelta(hours=2), "m": match["id"]},
            )
        if cancel:
            r = self.client.post(f"/v1/matches/{match['id']}/cancel", headers=self.admin)
        else:
            r = self.client.post(
                f"/v1/matches/{match['id']}/result",
                headers=self.admin,
                json={"home_score": home, "away_score": away},
            )
        assert r.status_code == 200, r.text
        match["status"] = "cancelled" if cancel else "finished"
        winner = "home" if home > away else "away" if away > home else "draw"
        credited: set[int] = set()
        settled = 0
        for bet in self.world.bets.values():
            if bet.match != index or bet.status != "open":
                continue
            settled += 1
            strategy = self.world.strategies[bet.strategy]
            if cancel:
                bet.status = "void"
                strategy.bankroll += bet.stake
                credited.add(bet.strategy)
            elif bet.selection == winner:
                bet.status = "won"
                strategy.bankroll += (bet.stake * PRICE).quantize(Decimal("0.01"), ROUND_HALF_UP)
                credited.add(bet.strategy)
            else:
                bet.status = "lost"
        for s in credited:
            self.world.strategies[s].version += 1
        assert r.json()["voided_bets" if cancel else "settled_bets"] == settled
        self.world.audits += settled + len(credited)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def money_and_audit_agree(self) -> None:
        if not hasattr(self, "world"):
            return
        for strategy in self.world.strategies:
            got = self.client.get(f"/v1/strategies/{strategy.id}", headers=self.headers).json()
            assert Decimal(got["bankroll"]) >= 0
            assert Decimal(got["bankroll"]) == strategy.bankroll
            assert got["status"] == strategy.status
            assert got["version"] == strategy.version
            returns = sum(
                (
                    (b.stake * PRICE).quantize(Decimal("0.01"), ROUND_HALF_UP)
                    if b.status == "won"
                    else b.stake
                    if b.status == "void"
                    else Decimal(0)
                )
                for b in self.world.bets.values()
                if self.world.strategies[b.strategy] is strategy
            )
            staked = sum(
                b.stake
                for b in self.world.bets.values()
                if self.world.strategies[b.strategy] is strategy
            )
            assert strategy.bankroll == INITIAL - staked + returns
        with self.engine.connect() as conn:
            audits = conn.execute(
                text("SELECT count(*) FROM audit_log WHERE tenant_id = :t"), {"t": self.tenant_id}
            ).scalar_one()
        assert audits == self.world.audits


def test_money_and_audit_invariants_hold_under_random_operations(
    client: TestClient, raw_engine: Engine
) -> None:
    Money.client = client
    Money.engine = raw_engine
    runner = Money.TestCase
    runner.settings = settings(
        max_examples=20,
        stateful_step_count=30,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    Money.counts = {}
    runner().runTest()
    print(
        f"\ninvariant run: {sum(Money.counts.values())} operations {sorted(Money.counts.items())}"
    )
    assert Money.counts.get("place", 0) > 50
