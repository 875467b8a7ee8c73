"""Analytics answers only what a recompute has seen; empty pairs are zeros, not errors."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN_KEY
from tests.helpers import assert_problem, make_match, make_team


def test_profiles_appear_with_the_recompute_that_sees_them(fresh_stack: Any) -> None:
    client = fresh_stack.client
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    home, away, idle = (make_team(client, admin) for _ in range(3))
    match = make_match(
        client,
        admin,
        home_team_id=home["id"],
        away_team_id=away["id"],
        kickoff_at="2024-01-06T15:00:00Z",
    )
    assert (
        client.post(
            f"/v1/matches/{match['id']}/result",
            json={"home_score": 2, "away_score": 2},
            headers=admin,
        ).status_code
        == 200
    )
    assert_problem(client.get(f"/v1/teams/{home['id']}/profile", headers=admin), 404)
    assert_problem(client.get("/v1/teams/99999999/profile", headers=admin), 404)

    recomputed = client.post("/v1/analytics/recompute", headers=admin).json()
    assert recomputed == {"teams": 2, "pairs": 1}
    profile = client.get(f"/v1/teams/{home['id']}/profile", headers=admin).json()
    assert profile["matches"] == 1
    assert (profile["draw_rate"], profile["win_rate"], profile["form"]) == (1.0, 0.0, ["D"])
    assert profile["home_win_rate"] == 0.0
    assert profile["away_win_rate"] == 0.0  # no away match: 0, not an error
    assert profile["goals_for_per_match"] == 2.0
    assert profile["team"]["id"] == home["id"]
    assert_problem(client.get(f"/v1/teams/{idle['id']}/profile", headers=admin), 404)

    pair = client.get(
        "/v1/analytics/head-to-head",
        params={"team_a": away["id"], "team_b": home["id"]},
        headers=admin,
    ).json()
    assert (pair["meetings"], pair["draws"], pair["goals_per_meeting"]) == (1, 1, 4.0)
    assert pair["last_meeting_at"] == "2024-01-06T15:00:00Z"
    none = client.get(
        "/v1/analytics/head-to-head",
        params={"team_a": idle["id"], "team_b": home["id"]},
        headers=admin,
    ).json()
    assert (
        none["meetings"],
        none["team_a_wins"],
        none["draws"],
        none["team_b_wins"],
        none["goals_per_meeting"],
        none["last_meeting_at"],
    ) == (0, 0, 0, 0, 0, None)
    assert_problem(
        client.get(
            "/v1/analytics/head-to-head",
            params={"team_a": idle["id"], "team_b": 99999999},
            headers=admin,
        ),
        404,
    )
