"""Teams, exactly as API.md describes them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import assert_problem, count_rows, make_match, make_team, unique


def test_create_returns_201_location_etag_and_trimmed_body(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    name = unique("Arsenal")
    response = client.post(
        "/v1/teams", json={"name": f"  {name}  ", "country": "England"}, headers=admin_headers
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/teams/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert body["name"] == name and body["country"] == "England" and body["league"] is None
    assert body["version"] == 1 and body["created_by"] == "admin" == body["updated_by"]
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")
    fetched = client.get(f"/v1/teams/{body['id']}", headers=admin_headers)
    assert fetched.json() == body and fetched.headers["etag"] == '"1"'


def test_names_are_unique_case_insensitively(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers)
    clash = client.post("/v1/teams", json={"name": team["name"].swapcase()}, headers=admin_headers)
    assert_problem(clash, 409, "duplicate")


def test_name_rules(client: TestClient, admin_headers: dict[str, str]) -> None:
    for name in ("", "   ", "x" * 101, 5, None):
        assert_problem(client.post("/v1/teams", json={"name": name}, headers=admin_headers), 422)
    assert (
        client.post(
            "/v1/teams", json={"name": unique("y")[:100]}, headers=admin_headers
        ).status_code
        == 201
    )


def test_q_is_a_literal_case_insensitive_substring(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    tag = unique("lit").replace(" ", "")
    make_team(client, admin_headers, name=f"{tag} 100% Club")
    make_team(client, admin_headers, name=f"{tag} 100X Club")
    make_team(client, admin_headers, name=f"{tag} a_b")
    make_team(client, admin_headers, name=f"{tag} axb")

    def names(q: str) -> list[str]:
        response = client.get("/v1/teams", params={"q": q}, headers=admin_headers)
        return [t["name"] for t in response.json()["items"]]

    assert names(f"{tag.upper()} 100%") == [f"{tag} 100% Club"]
    assert names(f"{tag} a_b") == [f"{tag} a_b"]


def test_list_filters_order_and_paging(client: TestClient, admin_headers: dict[str, str]) -> None:
    league = unique("League")
    made = sorted(
        make_team(client, admin_headers, league=league, country="Wales")["name"] for _ in range(5)
    )
    make_team(client, admin_headers, league=league, country="England")
    seen, cursor = [], None
    while True:
        params = {"league": league, "country": "Wales", "limit": 2, "include_total": "true"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/teams", params=params, headers=admin_headers).json()
        assert page["total"] == 5
        seen += [t["name"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    plain = client.get("/v1/teams", params={"league": league}, headers=admin_headers).json()
    assert "total" not in plain and plain["next_cursor"] is None and len(plain["items"]) == 6


def test_pages_never_skip_or_repeat_while_rows_are_inserted(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    league = unique("Moving")
    for i in range(6):
        make_team(client, admin_headers, league=league, name=f"{league} m{i}")
    first = client.get(
        "/v1/teams", params={"league": league, "limit": 3}, headers=admin_headers
    ).json()
    # Rows sorting before and after the cursor arrive between the two pages.
    make_team(client, admin_headers, league=league, name=f"{league} a-early")
    make_team(client, admin_headers, league=league, name=f"{league} z-late")
    second = client.get(
        "/v1/teams",
        params={"league": league, "limit": 10, "cursor": first["next_cursor"]},
        headers=admin_headers,
    ).json()
    names = [t["name"] for t in first["items"] + second["items"]]
    assert len(names) == len(set(names))
    assert [f"{league} m{i}" for i in range(6)] == [n for n in names if " m" in n]


def test_patch_needs_if_match_and_moves_the_version(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    team = make_team(client, admin_headers)
    url = f"/v1/teams/{team['id']}"
    assert_problem(client.patch(url, json={"league": "EPL"}, headers=admin_headers), 428)
    for bad in ('"2"', 'W/"1"', "1", "garbage"):
        assert_problem(
            client.patch(url, json={"league": "EPL"}, headers={**admin_headers, "If-Match": bad}),
            412,
        )
    assert client.get(url, headers=admin_headers).json()["version"] == 1
    ok = client.patch(url, json={"league": "EPL"}, headers={**admin_headers, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    assert ok.json()["league"] == "EPL" and ok.json()["version"] == 2
    assert ok.json()["updated_at"] > team["updated_at"]
    audit = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE entity_type='team' "
        "AND entity_id=:e AND action='update'",
        e=str(team["id"]),
    )
    assert audit == 1


def test_patch_rejects_null_name_and_unknown_fields(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers)
    headers = {**admin_headers, "If-Match": '"1"'}
    assert_problem(
        client.patch(f"/v1/teams/{team['id']}", json={"name": None}, headers=headers), 422
    )
    assert_problem(
        client.patch(f"/v1/teams/{team['id']}", json={"version": 9}, headers=headers), 422
    )


def test_missing_team_is_404_before_any_precondition(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    assert_problem(
        client.patch("/v1/teams/99999999", json={"league": "x"}, headers=admin_headers), 404
    )
    assert_problem(
        client.delete("/v1/teams/99999999", headers={**admin_headers, "If-Match": "garbage"}), 404
    )


def test_concurrent_patches_with_the_same_etag_one_wins(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers)
    headers = {**admin_headers, "If-Match": '"1"'}

    def patch(i: int) -> int:
        return client.patch(
            f"/v1/teams/{team['id']}", json={"league": unique(f"L{i}")}, headers=headers
        ).status_code

    for _ in range(3):  # several rounds: the race must hold every time
        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = sorted(pool.map(patch, range(2)))
        current = client.get(f"/v1/teams/{team['id']}", headers=admin_headers).json()
        headers["If-Match"] = f'"{current["version"]}"'
        assert statuses == [200, 412]


def test_delete_is_409_while_matches_reference_it_then_204(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    match = make_match(client, admin_headers)
    team_id = match["home_team"]["id"]
    assert_problem(client.delete(f"/v1/teams/{team_id}", headers=admin_headers), 409)
    lone = make_team(client, admin_headers)
    assert_problem(
        client.delete(f"/v1/teams/{lone['id']}", headers={**admin_headers, "If-Match": '"7"'}), 412
    )
    assert (
        client.delete(
            f"/v1/teams/{lone['id']}", headers={**admin_headers, "If-Match": '"1"'}
        ).status_code
        == 204
    )
    assert_problem(client.get(f"/v1/teams/{lone['id']}", headers=admin_headers), 404)
