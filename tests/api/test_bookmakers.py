from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import assert_problem, make_bookmaker, unique


def test_create_defaults_is_sharp_false_and_lists_by_name(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.post("/v1/bookmakers", json={"name": unique("Bet")}, headers=admin_headers)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "is_sharp", "created_at", "updated_at", "version"}
    assert body["is_sharp"] is False
    assert response.headers["location"] == f"/v1/bookmakers/{body['id']}"
    sharp = make_bookmaker(client, admin_headers, is_sharp=True)
    listed = client.get(
        "/v1/bookmakers", params={"is_sharp": "true", "limit": 500}, headers=admin_headers
    ).json()["items"]
    assert sharp["id"] in {b["id"] for b in listed}
    assert all(b["is_sharp"] for b in listed)
    names = [b["name"] for b in listed]
    assert names == sorted(names)


def test_is_sharp_must_be_a_boolean(client: TestClient, admin_headers: dict[str, str]) -> None:
    for value in ("yes", 1, None):
        response = client.post(
            "/v1/bookmakers", json={"name": unique("B"), "is_sharp": value}, headers=admin_headers
        )
        assert_problem(response, 422)


def test_patch_and_duplicate(client: TestClient, admin_headers: dict[str, str]) -> None:
    first, second = make_bookmaker(client, admin_headers), make_bookmaker(client, admin_headers)
    url = f"/v1/bookmakers/{second['id']}"
    clash = client.patch(
        url, json={"name": first["name"].upper()}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert_problem(clash, 409, "duplicate")
    ok = client.patch(url, json={"is_sharp": True}, headers={**admin_headers, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["is_sharp"] is True and ok.json()["version"] == 2
    assert client.delete(url, headers=admin_headers).status_code == 204
