"""The OpenAPI document states the rules the server enforces (issue 20).

Checked on the document the app serves (`/openapi.json`), walked over every operation rather
than a sample, and, for the rules the server enforces itself, against the server's answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from backend.api import deps
from backend.api.openapi import header_contracts
from backend.api.schemas.common import NUL_FREE, PatchModel
from backend.core.timestamps import TIMESTAMP_RE
from backend.services.odds import MAX_ROWS
from tests.helpers import (
    assert_problem,
    bet_body,
    make_bookmaker,
    make_match,
    make_strategy,
    make_team,
    make_tenant,
)

METHODS = ("get", "put", "post", "patch", "delete")
# What the issue lists; every PatchModel's `non_nullable` fields are checked below.
NON_NULLABLE = {
    "TeamUpdate": {"name"},
    "BookmakerUpdate": {"name", "is_sharp"},
    "MatchUpdate": {"league", "season", "kickoff_at"},
    "TenantUpdate": {"name", "is_active"},
    "StrategyUpdate": {"max_stake", "status"},
    "LimitsBody": {"max_stake"},
    "WebhookUpdate": {"url", "event_types", "status"},
}
IF_MATCH_REQUIRED = {
    ("patch", "/v1/teams/{team_id}"),
    ("patch", "/v1/bookmakers/{bookmaker_id}"),
    ("patch", "/v1/matches/{match_id}"),
    ("patch", "/v1/admin/tenants/{tenant_id}"),
    ("patch", "/v1/strategies/{strategy_id}"),
    ("patch", "/v1/webhooks/{webhook_id}"),
}


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def _header(operation: dict[str, Any], name: str) -> dict[str, Any] | None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == name.lower():
            return dict(parameter)
    return None


def _resolve(document: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _walk(
    document: dict[str, Any], schema: Any, seen: frozenset[str] = frozenset()
) -> Iterator[Any]:
    """Every subschema of `schema`, references followed (once each)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref not in seen:
                yield from _walk(document, _resolve(document, schema), seen | {ref})
            return
        yield schema
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    yield from _walk(document, sub, seen)
            elif key in ("items", "not", "additionalProperties"):
                yield from _walk(document, value, seen)
            elif key in ("anyOf", "oneOf", "allOf"):
                for sub in value:
                    yield from _walk(document, sub, seen)


def _request_schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, schema) of every parameter and JSON request body of every operation."""
    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            where = f"{method.upper()} {path} {parameter['in']} {parameter['name']}"
            yield where, parameter["schema"]
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            yield f"{method.upper()} {path} body", content["application/json"]["schema"]


def _has_null(schema: Any) -> bool:
    if isinstance(schema, dict):
        if schema.get("type") == "null" or ("default" in schema and schema["default"] is None):
            return True
        types = schema.get("type")
        if isinstance(types, list) and "null" in types:
            return True
        return any(_has_null(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_null(v) for v in schema)
    return False


# -- If-Match -------------------------------------------------------------------------------


def test_if_match_is_required_with_the_strong_etag_pattern_wherever_it_is_428_without(
    app: Any, document: dict[str, Any]
) -> None:
    """Derived from the routes: every operation depending on `required_if_match` (428 without
    If-Match) says so, and no other operation does."""
    requiring = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and any(
            c.name == "If-Match" and c.required for c in header_contracts(route)
        ):
            requiring |= {(m.lower(), route.path_format) for m in route.methods}
    assert requiring == IF_MATCH_REQUIRED
    for method, path, operation in _operations(document):
        header = _header(operation, "If-Match")
        if (method, path) in requiring:
            assert header is not None, (method, path)
            assert header["required"] is True, (method, path)
            assert header["schema"] == {"type": "string", "pattern": deps.ETAG_LIST_PATTERN}
        elif header is not None:
            assert header["required"] is False, (method, path)
            assert not _has_null(header["schema"]), (method, path)
            assert "pattern" in header["schema"], (method, path)


@pytest.mark.parametrize(
    ("value", "well_formed"),
    [
        ('"3"', True),
        ('"3", "4"', True),
        ('"3",\t"12"', True),
        ("3", False),
        ('W/"3"', False),
        ("*", False),
        ('"3",', False),
        ('"-1"', False),
        ('"x"', False),
        ("", False),
    ],
)
def test_the_if_match_pattern_is_what_the_server_reads_as_etags(
    value: str, well_formed: bool
) -> None:
    assert (re.search(deps.ETAG_LIST_PATTERN, value) is not None) is well_formed


def test_if_match_keeps_its_answers_404_then_428_and_412(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers)
    url = f"/v1/teams/{team['id']}"
    body = {"country": "Spain"}
    assert_problem(client.patch(url, json=body, headers=admin_headers), 428)
    star = {**admin_headers, "If-Match": "*"}
    assert_problem(client.patch(url, json=body, headers=star), 428)
    for garbage in ("3", 'W/"1"', "{}", '"1",,'):
        garbled = {**admin_headers, "If-Match": garbage}
        assert_problem(client.patch(url, json=body, headers=garbled), 412)
    stale = {**admin_headers, "If-Match": '"999"'}
    assert_problem(client.patch(url, json=body, headers=stale), 412)
    for missing_or_garbage in ({}, {"If-Match": "garbage"}):
        headers = {**admin_headers, **missing_or_garbage}
        assert_problem(client.patch("/v1/teams/2147483600", json=body, headers=headers), 404)
    current = {**admin_headers, "If-Match": f'"0", "{team["version"]}"'}
    assert client.patch(url, json=body, headers=current).status_code == 200


# -- Idempotency-Key ------------------------------------------------------------------------


def test_idempotency_key_is_required_with_its_pattern(document: dict[str, Any]) -> None:
    header = _header(document["paths"]["/v1/bets"]["post"], "Idempotency-Key")
    assert header is not None
    assert header["required"] is True
    assert header["schema"] == {"type": "string", "pattern": deps.IDEMPOTENCY_KEY_PATTERN}
    for method, path, operation in _operations(document):
        if (method, path) != ("post", "/v1/bets"):
            assert _header(operation, "Idempotency-Key") is None, (method, path)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("k", True),
        ("a b", True),
        ("~!" * 100, True),
        ("x" * 255, True),
        ("x" * 256, False),
        ("", False),
        (" k", False),  # as sent, never as received: the value is trimmed (see the route)
        ("ключ", False),
        ("a\tb", False),
        ("a\x7fb", False),
    ],
)
def test_the_idempotency_key_pattern_is_the_servers_rule(key: str, valid: bool) -> None:
    assert (re.search(deps.IDEMPOTENCY_KEY_PATTERN, key) is not None) is valid


@pytest.mark.parametrize("padded", ["{k} ", "\t{k}", " {k}\t"])
def test_an_idempotency_key_is_still_trimmed_and_checked_by_the_server(
    client: TestClient, admin_headers: dict[str, str], padded: str
) -> None:
    _, tenant = make_tenant(client, admin_headers)
    strategy = make_strategy(client, tenant)
    match = make_match(client, admin_headers, kickoff_at="2035-09-01T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    body = bet_body(strategy["id"], match["id"], book["id"])
    first = client.post("/v1/bets", json=body, headers={**tenant, "Idempotency-Key": "key-1"})
    assert first.status_code == 201, first.text
    again = client.post(
        "/v1/bets", json=body, headers={**tenant, "Idempotency-Key": padded.format(k="key-1")}
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    for bad in ({}, {"Idempotency-Key": "  "}, {"Idempotency-Key": "x" * 256}):
        answer = client.post("/v1/bets", json=body, headers={**tenant, **bad})
        assert_problem(answer, 400, "invalid-idempotency-key")


# -- update schemas: optional, never null where null is refused -----------------------------


def test_update_schemas_have_no_null_where_the_server_refuses_it(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    declared = {model.__name__: set(model.non_nullable) for model in _patch_models()}
    assert {name: fields for name, fields in declared.items() if fields} == NON_NULLABLE
    for name, fields in declared.items():
        schema = schemas[name]
        assert not schema.get("required"), name  # every field optional
        for field in fields:
            prop = schema["properties"][field]
            assert not _has_null(prop), (name, field, prop)
            assert prop.get("type") or prop.get("anyOf") or prop.get("enum"), (name, field)


def _patch_models() -> list[type[PatchModel]]:
    models: list[type[PatchModel]] = []
    todo = list(PatchModel.__subclasses__())
    while todo:
        model = todo.pop()
        models.append(model)
        todo.extend(model.__subclasses__())
    return models


def test_nullable_update_fields_keep_their_null(document: dict[str, Any]) -> None:
    team = document["components"]["schemas"]["TeamUpdate"]["properties"]
    assert _has_null(team["country"])
    assert _has_null(team["league"])


def test_an_explicit_null_is_still_422(client: TestClient, admin_headers: dict[str, str]) -> None:
    team = make_team(client, admin_headers)
    book = make_bookmaker(client, admin_headers)
    match = make_match(client, admin_headers)
    cases = [
        (f"/v1/teams/{team['id']}", team["version"], "name"),
        (f"/v1/bookmakers/{book['id']}", book["version"], "is_sharp"),
        (f"/v1/matches/{match['id']}", match["version"], "kickoff_at"),
    ]
    for url, version, field in cases:
        headers = {**admin_headers, "If-Match": f'"{version}"'}
        answer = client.patch(url, json={field: None}, headers=headers)
        assert_problem(answer, 422)


# -- odds batch, money, text ----------------------------------------------------------------


def test_the_odds_batch_body_has_an_item_schema_and_bounds(document: dict[str, Any]) -> None:
    content = document["paths"]["/v1/odds/batch"]["post"]["requestBody"]["content"]
    body = content["application/json"]["schema"]
    assert body["required"] == ["snapshots"]
    assert body["additionalProperties"] is False
    snapshots = body["properties"]["snapshots"]
    assert snapshots["type"] == "array"
    assert snapshots["minItems"] == 1
    assert snapshots["maxItems"] == MAX_ROWS
    item = snapshots["items"]
    assert item["additionalProperties"] is False
    fields = ("match_id", "bookmaker_id", "market", "selection", "price", "captured_at")
    assert set(item["required"]) == set(fields)
    props = item["properties"]
    for field in ("match_id", "bookmaker_id"):
        assert props[field] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    assert props["market"]["enum"] == ["1x2", "ou2.5", "ah", "ou"]
    assert "line" in props and "line" not in item["required"]  # ah / ou only
    assert set(props["selection"]["enum"]) == {"home", "draw", "away", "over", "under"}
    string, number = props["price"]["anyOf"]
    assert string["type"] == "string" and string["pattern"]
    assert (number["minimum"], number["maximum"], number["multipleOf"]) == (1.001, 1000, 0.001)
    assert props["captured_at"]["format"] == "date-time"
    assert props["captured_at"]["pattern"] == TIMESTAMP_RE
    csv = content["text/csv"]
    assert re.search(csv["schema"]["pattern"], csv["example"])
    seven = "match_id,bookmaker_id,market,selection,price,captured_at,line\n"
    at = "2024-08-16T18:00:00Z"
    assert re.search(csv["schema"]["pattern"], f"{seven}1,1,ah,home,1.950,{at},-0.25\n")
    assert re.search(csv["schema"]["pattern"], f"{seven}1,1,1x2,home,1.950,{at},\n")
    assert not re.search(csv["schema"]["pattern"], f"{seven}1,1,ah,home,1.950,{at},\n")
    assert not re.search(csv["schema"]["pattern"], f"{seven}1,1,ou,over,1.950,{at},2.5\n")


def test_money_and_prices_state_their_bounds(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    bounds = {
        ("BetCreate", "stake"): ("exclusiveMinimum", 0, 999999999999.99, 0.01),
        ("BetCreate", "price"): ("minimum", 1.001, 1000, 0.001),
        ("StrategyCreate", "max_stake"): ("exclusiveMinimum", 0, 999999999999.99, 0.01),
        ("StrategyCreate", "bankroll"): ("minimum", 0, 999999999999.99, 0.01),
        ("LimitsBody", "max_stake"): ("exclusiveMinimum", 0, 999999999999.99, 0.01),
        ("StrategyUpdate", "max_stake"): ("exclusiveMinimum", 0, 999999999999.99, 0.01),
    }
    for (model, field), (low_key, low, high, step) in bounds.items():
        string, number = schemas[model]["properties"][field]["anyOf"]
        assert string["type"] == "string", (model, field)
        assert number == {
            "type": "number",
            low_key: low,
            "maximum": high,
            "multipleOf": step,
        }, (model, field)
        for negative in ("-1", "-0.01", "-5.5"):  # refused everywhere: no sign in the pattern
            assert re.search(string["pattern"], negative) is None, (model, field, negative)


def test_season_has_its_pattern(document: dict[str, Any]) -> None:
    for model in ("MatchCreate", "MatchUpdate"):
        season = document["components"]["schemas"][model]["properties"]["season"]
        assert season["pattern"] == "^[0-9]{4}-[0-9]{2}$", model


def test_every_free_text_input_says_it_cannot_hold_nul(document: dict[str, Any]) -> None:
    """Every string a client types (no enum, no format, no pattern of its own) in a request
    body or query says `^[^\\x00]*$`: the server refuses NUL in all of them."""
    own_patterns = {"If-Match", "Idempotency-Key", "cursor", "season", "after", "types"}
    checked = 0
    for where, schema in _request_schemas(document):
        if where.split()[2] == "header" or where.split()[-1] in own_patterns:
            continue
        for sub in _walk(document, schema):
            if sub.get("type") != "string" or "enum" in sub or "format" in sub:
                continue
            if "maxLength" in sub:  # text (the decimal strings have their own patterns)
                assert sub.get("pattern") == NUL_FREE, (where, sub)
                checked += 1
    assert checked >= 15


def test_every_timestamp_input_has_the_rfc3339_pattern(document: dict[str, Any]) -> None:
    checked = 0
    for where, schema in _request_schemas(document):
        for sub in _walk(document, schema):
            if sub.get("format") == "date-time":
                assert sub.get("pattern") == TIMESTAMP_RE, where
                assert sub.get("type") == "string", where
                checked += 1
    # kickoff_from, kickoff_to, at; MatchCreate/MatchUpdate.kickoff_at; a snapshot's captured_at
    assert checked >= 6


# -- timestamps: RFC 3339 text only, never Unix time ----------------------------------------


@pytest.mark.parametrize("value", ["0.5", "1800000000", "1830000001", "-1", "2026-08-15"])
def test_an_epoch_number_is_no_timestamp_in_a_query(
    client: TestClient, admin_headers: dict[str, str], value: str
) -> None:
    match = make_match(client, admin_headers)
    for url, name in (
        (f"/v1/matches?kickoff_to={value}", "kickoff_to"),
        (f"/v1/matches?kickoff_from={value}", "kickoff_from"),
        (f"/v1/matches/{match['id']}/odds?at={value}", "at"),
    ):
        body = assert_problem(client.get(url, headers=admin_headers), 422)
        assert [e["loc"] for e in body["errors"]] == [["query", name]], url


@pytest.mark.parametrize("value", ["1830000001", 1830000001, 0.5, "0.5", "", True])
def test_an_epoch_number_is_no_kickoff(
    client: TestClient, admin_headers: dict[str, str], value: Any
) -> None:
    home, away = make_team(client, admin_headers), make_team(client, admin_headers)
    body = {
        "league": "Premier League",
        "season": "2025-26",
        "home_team_id": home["id"],
        "away_team_id": away["id"],
        "kickoff_at": value,
    }
    answer = assert_problem(client.post("/v1/matches", json=body, headers=admin_headers), 422)
    assert [e["loc"] for e in answer["errors"]] == [["body", "kickoff_at"]]
    match = make_match(client, admin_headers)
    patch = client.patch(
        f"/v1/matches/{match['id']}",
        json={"kickoff_at": value},
        headers={**admin_headers, "If-Match": f'"{match["version"]}"'},
    )
    assert_problem(patch, 422)


@pytest.mark.parametrize(
    "value",
    [
        "2030-08-16T19:00:00Z",
        "2030-08-16t19:00:00z",
        "2030-08-16 19:00:00+02:00",
        "2030-08-16T19:00Z",
    ],
)
def test_rfc3339_timestamps_are_still_accepted(
    client: TestClient, admin_headers: dict[str, str], value: str
) -> None:
    match = make_match(client, admin_headers)
    assert (
        client.get("/v1/matches", params={"kickoff_to": value}, headers=admin_headers).status_code
        == 200
    )
    odds = client.get(
        f"/v1/matches/{match['id']}/odds", params={"at": value}, headers=admin_headers
    )
    assert odds.status_code == 200
    assert re.search(TIMESTAMP_RE, value)


def test_a_season_is_ascii_digits_only(client: TestClient, admin_headers: dict[str, str]) -> None:
    home, away = make_team(client, admin_headers), make_team(client, admin_headers)
    for season in ("2025-26\n", "٢٠٢٥-٢٦", "2025-27"):
        body = {
            "league": "Premier League",
            "season": season,
            "home_team_id": home["id"],
            "away_team_id": away["id"],
            "kickoff_at": "2030-08-16T19:00:00Z",
        }
        answer = assert_problem(client.post("/v1/matches", json=body, headers=admin_headers), 422)
        assert [e["loc"] for e in answer["errors"]] == [["body", "season"]]
