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


def test_get_by_id_is_the_created_resource_with_its_etag_and_fresh_after_a_patch(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """Bookmakers by id are served from the query cache's read model: the same JSON as the
    create answer, a strong ETag, the change visible at once after a PATCH, 404 when absent."""
    created = make_bookmaker(client, admin_headers)
    url = f"/v1/bookmakers/{created['id']}"
    for _ in range(2):  # a load, then a cache hit
        fetched = client.get(url, headers=admin_headers)
        assert fetched.status_code == 200
        assert fetched.json() == created and fetched.headers["etag"] == '"1"'
    patched = client.patch(
        url, json={"is_sharp": True}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert patched.status_code == 200
    fresh = client.get(url, headers=admin_headers)
    assert fresh.json() == patched.json() and fresh.json()["is_sharp"] is True
    assert fresh.headers["etag"] == '"2"'
    assert_problem(client.get("/v1/bookmakers/2000000000", headers=admin_headers), 404, "not-found")
