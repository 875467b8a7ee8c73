"""API.md conventions that hold for every endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import assert_problem, count_rows, make_team, unique


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer wrong-key", "bearer  two words"],
)
def test_missing_malformed_or_unknown_key_is_401(
    client: TestClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/v1/teams", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_anonymous_write_is_401_before_the_body_is_looked_at(client: TestClient) -> None:
    response = client.post(
        "/v1/teams", content=b"{not json", headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 401)


def test_problem_instance_is_the_raw_path_without_query(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = assert_problem(client.get("/v1/teams/%39%39999999?x=1", headers=admin_headers), 404)
    assert body["instance"] == "/v1/teams/%39%39999999"


def test_unknown_path_and_method_are_problems(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    assert_problem(client.get("/v1/nothing-here", headers=admin_headers), 404)
    assert_problem(client.put("/v1/teams", headers=admin_headers), 405)


@pytest.mark.parametrize("ident", ["99999999", "2147483648", "99999999999999999999999", "-4", "0"])
def test_well_formed_unknown_ids_are_404(
    client: TestClient, admin_headers: dict[str, str], ident: str
) -> None:
    for resource in ("teams", "bookmakers", "matches"):
        assert_problem(
            client.get(f"/v1/{resource}/{ident}", headers=admin_headers), 404, "not-found"
        )


@pytest.mark.parametrize("ident", ["abc", "1.5", "1e3", "%20"])
def test_malformed_ids_are_422(
    client: TestClient, admin_headers: dict[str, str], ident: str
) -> None:
    assert_problem(client.get(f"/v1/teams/{ident}", headers=admin_headers), 422)


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"name": NaN}',
        b'{"name": Infinity}',
        b"[1,]",
        b'{"name": "x"} trailing',
        b"\xff\xfe",
    ],
)
def test_malformed_json_is_400(
    client: TestClient, admin_headers: dict[str, str], body: bytes
) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}
    assert_problem(client.post("/v1/teams", content=body, headers=headers), 400)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_non_json_body_is_415(
    client: TestClient, admin_headers: dict[str, str], content_type: str | None
) -> None:
    headers = dict(admin_headers)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/teams", content=b'{"name": "x"}', headers=headers)
    assert_problem(response, 415)


def test_json_with_charset_is_accepted(client: TestClient, admin_headers: dict[str, str]) -> None:
    headers = {**admin_headers, "Content-Type": "application/json; charset=utf-8"}
    name = unique("Charset")
    response = client.post("/v1/teams", content=f'{{"name": "{name}"}}'.encode(), headers=headers)
    assert response.status_code == 201


def test_body_over_one_mebibyte_is_413_and_creates_nothing(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    name = unique("Huge")
    padding = "x" * (1 << 20)
    payload = f'{{"name": "{name}", "country": "{padding}"}}'.encode()
    headers = {**admin_headers, "Content-Type": "application/json"}
    assert_problem(client.post("/v1/teams", content=payload, headers=headers), 413)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 64 * 1024):
            yield payload[i : i + 64 * 1024]

    assert_problem(client.post("/v1/teams", content=chunks(), headers=headers), 413)
    assert count_rows(raw_engine, "SELECT count(*) FROM teams WHERE name = :n", n=name) == 0


@pytest.mark.parametrize("field", ["id", "version", "created_by", "created_at", "tenant_id"])
def test_unknown_or_server_owned_fields_are_422(
    client: TestClient, admin_headers: dict[str, str], field: str
) -> None:
    response = client.post(
        "/v1/teams", json={"name": unique("Mass"), field: 7}, headers=admin_headers
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", field]


def test_request_id_is_echoed_or_generated_and_stored_on_audit(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    generated = client.get("/health/live")
    assert len(generated.headers["x-request-id"]) >= 16
    rid = "trace-" + unique("r").replace(" ", "-")
    response = client.post(
        "/v1/teams", json={"name": unique("Rid")}, headers={**admin_headers, "X-Request-ID": rid}
    )
    assert response.headers["x-request-id"] == rid
    stored = count_rows(
        raw_engine,
        "SELECT count(*) FROM audit_log WHERE request_id = :r AND entity_id = :e",
        r=rid,
        e=str(response.json()["id"]),
    )
    assert stored == 1
    problem = client.get("/v1/teams/abc", headers={**admin_headers, "X-Request-ID": rid})
    assert problem.headers["x-request-id"] == rid


def test_change_reason_is_stored_and_bounded(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    response = client.post(
        "/v1/teams",
        json={"name": unique("Why")},
        headers={**admin_headers, "X-Change-Reason": "promoted"},
    )
    with raw_engine.connect() as conn:
        reason = conn.execute(
            text("SELECT change_reason FROM audit_log WHERE entity_type='team' AND entity_id=:e"),
            {"e": str(response.json()["id"])},
        ).scalar_one()
    assert reason == "promoted"
    name = unique("TooLong")
    long_reason = client.post(
        "/v1/teams", json={"name": name}, headers={**admin_headers, "X-Change-Reason": "r" * 501}
    )
    assert_problem(long_reason, 422)
    assert count_rows(raw_engine, "SELECT count(*) FROM teams WHERE name=:n", n=name) == 0
    # A read stores nothing, so it ignores the header, however long (no 422 for a GET).
    read = client.get("/v1/matches", headers={**admin_headers, "X-Change-Reason": "r" * 501})
    assert read.status_code == 200, read.text


def test_numbers_out_of_range_are_422_not_database_errors(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers)
    for value in (2**63, 1e308, -1, 2**31):
        body: dict[str, Any] = {
            "league": "L",
            "season": "2024-25",
            "home_team_id": team["id"],
            "away_team_id": value,
            "kickoff_at": "2030-01-01T00:00:00Z",
        }
        assert_problem(client.post("/v1/matches", json=body, headers=admin_headers), 422)


def test_limit_outside_range_and_foreign_cursor_are_422(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for query in ("limit=0", "limit=501", "limit=abc", "cursor=not-ours"):
        assert_problem(client.get(f"/v1/teams?{query}", headers=admin_headers), 422)


@pytest.mark.parametrize("text", ["nul\u0000inside", "lone \ud800 surrogate"])
def test_text_postgres_cannot_store_is_422_not_500(
    client: TestClient, admin_headers: dict[str, str], text: str
) -> None:
    body = json.dumps({"name": text}).encode()  # \\u escapes survive JSON encoding
    headers = {**admin_headers, "Content-Type": "application/json"}
    assert_problem(client.post("/v1/teams", content=body, headers=headers), 422)
    assert_problem(client.get("/v1/teams", params={"q": "a\u0000b"}, headers=admin_headers), 422)
