from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.core.database import Database
from tests.helpers import (
    assert_problem,
    count_statements,
    make_match,
    make_team,
    unique,
    with_texts,
)


def _body(home: int, away: int, **kw: Any) -> dict[str, Any]:
    return {
        "league": "Premier League",
        "season": "2024-25",
        "home_team_id": home,
        "away_team_id": away,
        "kickoff_at": "2030-08-16T19:00:00+01:00",
        **kw,
    }


def test_create_embeds_both_teams_and_normalises_kickoff_to_utc(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    home, away = make_team(client, admin_headers), make_team(client, admin_headers)
    response = client.post("/v1/matches", json=_body(home["id"], away["id"]), headers=admin_headers)
    assert response.status_code == 201, response.text
    match = response.json()
    assert response.headers["location"] == f"/v1/matches/{match['id']}"
    assert match["home_team"] == {"id": home["id"], "name": home["name"]}
    assert match["away_team"] == {"id": away["id"], "name": away["name"]}
    assert match["kickoff_at"] == "2030-08-16T18:00:00Z"
    assert (match["status"], match["home_score"], match["away_score"]) == ("scheduled", None, None)
    assert client.get(f"/v1/matches/{match['id']}", headers=admin_headers).json() == match


@pytest.mark.parametrize("season", ["2024-26", "2024", "24-25", "2024/25", "1999-01", "abcd-ef"])
def test_season_must_be_consecutive_years(
    client: TestClient, admin_headers: dict[str, str], season: str
) -> None:
    home, away = make_team(client, admin_headers), make_team(client, admin_headers)
    response = client.post(
        "/v1/matches", json=_body(home["id"], away["id"], season=season), headers=admin_headers
    )
    assert_problem(response, 422)


def test_century_season_is_valid(client: TestClient, admin_headers: dict[str, str]) -> None:
    match = make_match(client, admin_headers, season="1999-00")
    assert match["season"] == "1999-00"


def test_rules_on_teams_kickoff_and_uniqueness(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    home, away = make_team(client, admin_headers), make_team(client, admin_headers)
    assert_problem(
        client.post("/v1/matches", json=_body(home["id"], home["id"]), headers=admin_headers), 422
    )
    assert_problem(
        client.post("/v1/matches", json=_body(home["id"], 99999999), headers=admin_headers), 422
    )
    naive = _body(home["id"], away["id"], kickoff_at="2030-08-16T19:00:00")
    assert_problem(client.post("/v1/matches", json=naive, headers=admin_headers), 422)
    epoch = _body(home["id"], away["id"], kickoff_at=1900000000)
    assert_problem(client.post("/v1/matches", json=epoch, headers=admin_headers), 422)
    assert (
        client.post(
            "/v1/matches", json=_body(home["id"], away["id"]), headers=admin_headers
        ).status_code
        == 201
    )
    assert_problem(
        client.post("/v1/matches", json=_body(home["id"], away["id"]), headers=admin_headers),
        409,
        "duplicate",
    )
    past = _body(home["id"], away["id"], kickoff_at="2001-01-01T15:00:00Z")
    assert client.post("/v1/matches", json=past, headers=admin_headers).status_code == 201


def test_filters_team_and_kickoff_window(client: TestClient, admin_headers: dict[str, str]) -> None:
    league = unique("Cup")
    team = make_team(client, admin_headers)
    times = ["2031-01-01T12:00:00Z", "2031-01-02T12:00:00Z", "2031-01-03T12:00:00Z"]
    ids = [
        make_match(
            client,
            admin_headers,
            league=league,
            kickoff_at=t,
            **({"home_team_id": team["id"]} if i % 2 == 0 else {"away_team_id": team["id"]}),
        )["id"]
        for i, t in enumerate(times)
    ]
    make_match(client, admin_headers, league=league, kickoff_at="2031-01-02T13:00:00Z")

    def listed(**params: Any) -> list[int]:
        response = client.get(
            "/v1/matches", params={"league": league, **params}, headers=admin_headers
        )
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]]

    assert listed(team_id=team["id"]) == ids
    assert listed(team_id=team["id"], kickoff_from=times[1], kickoff_to=times[2]) == [ids[1]]
    assert listed(team_id=99999999999) == []
    assert listed(status="finished") == []
    assert_problem(client.get("/v1/matches", params={"status": "live"}, headers=admin_headers), 422)


def test_list_query_count_is_constant_in_page_size(
    client: TestClient, admin_headers: dict[str, str], db: Database
) -> None:
    for _ in range(3):
        make_match(client, admin_headers)
    counts = {}
    for limit in (1, 500):
        with count_statements(db.engine) as statements:
            response = client.get("/v1/matches", params={"limit": limit}, headers=admin_headers)
        assert response.status_code == 200
        assert len(response.json()["items"]) == (1 if limit == 1 else len(response.json()["items"]))
        data = [s for s in statements if "FROM matches" in with_texts(s)]
        assert len(data) == 1, data  # teams come in the same statement (joined)
        counts[limit] = len(statements)
    assert counts[1] == counts[500]


def test_reschedule_only_while_scheduled_and_delete(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers)
    url = f"/v1/matches/{match['id']}"
    moved = client.patch(
        url,
        json={"kickoff_at": "2032-01-01T20:00:00Z"},
        headers={**admin_headers, "If-Match": '"1"'},
    )
    assert moved.status_code == 200
    assert moved.json()["kickoff_at"] == "2032-01-01T20:00:00Z" and moved.json()["version"] == 2
    assert_problem(
        client.patch(
            url, json={"status": "finished"}, headers={**admin_headers, "If-Match": '"2"'}
        ),
        422,
    )
    assert client.delete(url, headers={**admin_headers, "If-Match": '"2"'}).status_code == 204


def test_list_items_are_exactly_what_get_returns(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """Lists are read as columns (a read model), single matches as entities: same JSON."""
    created = [
        make_match(client, admin_headers, kickoff_at=f"2021-03-0{d}T15:00:00Z") for d in (1, 2, 3)
    ]
    finished = created[0]["id"]
    result = client.post(
        f"/v1/matches/{finished}/result",
        json={"home_score": 2, "away_score": 1},
        headers=admin_headers,
    )
    assert result.status_code == 200, result.text
    ids = {m["id"] for m in created}
    listed: dict[int, Any] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/matches", params=params, headers=admin_headers).json()
        listed.update({m["id"]: m for m in page["items"] if m["id"] in ids})
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert listed.keys() == ids
    for match_id, item in listed.items():
        one = client.get(f"/v1/matches/{match_id}", headers=admin_headers)
        assert list(one.json().items()) == list(item.items())  # same fields, order, values
    assert listed[finished]["home_score"] == 2 and listed[finished]["status"] == "finished"


def test_list_pages_by_kickoff_then_id_with_total(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """Keyset pages of the match list (its read model): every match once, in (kickoff, id)
    order, the cursor carried across pages, `total` counted under the same filter."""
    team = make_team(client, admin_headers)
    kickoffs = ["2031-05-03T15:00:00Z", "2031-05-01T15:00:00Z", "2031-05-02T15:00:00Z"]
    made = []
    for kickoff in [*kickoffs, kickoffs[1]]:  # two matches share a kickoff: id breaks the tie
        away = make_team(client, admin_headers)
        body = _body(team["id"], away["id"], kickoff_at=kickoff)
        response = client.post("/v1/matches", json=body, headers=admin_headers)
        assert response.status_code == 201, response.text
        made.append(response.json())
    expected = [m["id"] for m in sorted(made, key=lambda m: (m["kickoff_at"], m["id"]))]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"team_id": team["id"], "limit": 1, "include_total": True}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/matches", params=params, headers=admin_headers).json()
        assert page["total"] == 4
        seen += [m["id"] for m in page["items"]]
        assert len(seen) <= len(expected), seen  # a cursor that does not advance
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


@pytest.mark.parametrize("team_id", [2**31, 2**70])
def test_a_team_filter_no_team_can_have_lists_nothing(
    client: TestClient, admin_headers: dict[str, str], team_id: int
) -> None:
    make_match(client, admin_headers)
    response = client.get(
        "/v1/matches", params={"team_id": team_id, "include_total": True}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None, "total": 0}
