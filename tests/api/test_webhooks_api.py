"""The webhooks API: endpoints (secret shown once), tenant isolation, validation, deliveries,
attempts and redelivery, through HTTP with real commits."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import assert_problem, make_tenant
from tests.webhook_events import insert_events

# Nothing listens there: a worker running meanwhile gets "connection refused" at once.
URL = "http://127.0.0.1:9/oddsdesk"


def _create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": URL, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/webhooks/{body['id']}"
    assert response.headers["etag"] == '"1"'
    return body


def test_the_secret_is_shown_once_and_never_again(
    client: TestClient, tenant_headers: dict[str, str], raw_engine: Engine
) -> None:
    created = _create(client, tenant_headers, event_types=["bet.settled", "bet.placed"])
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["bet.placed", "bet.settled"]
    assert (created["status"], created["consecutive_failures"]) == ("active", 0)
    one = client.get(f"/v1/webhooks/{created['id']}", headers=tenant_headers)
    assert one.status_code == 200
    assert "secret" not in one.json()
    assert one.json() == {k: v for k, v in created.items() if k != "secret"}
    listed = client.get("/v1/webhooks", headers=tenant_headers).json()
    assert [e["id"] for e in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    assert listed["next_cursor"] is None
    # Nor in the audit trail.
    with raw_engine.connect() as conn:
        changes = conn.execute(
            text(
                "SELECT action, changes FROM audit_log WHERE entity_type = 'webhook_endpoint' "
                "AND entity_id = :id"
            ),
            {"id": created["id"]},
        ).all()
    assert [c.action for c in changes] == ["create"]
    assert "secret" not in changes[0].changes
    assert changes[0].changes["url"] == [None, URL]


def test_admin_key_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_problem(client.post("/v1/webhooks", json={"url": URL}, headers=admin_headers), 403)
    assert_problem(client.get("/v1/webhooks", headers=admin_headers), 403)


def test_another_tenants_endpoint_is_404(
    client: TestClient, tenant_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    mine = _create(client, tenant_headers)
    _, other = make_tenant(client, admin_headers)
    path = f"/v1/webhooks/{mine['id']}"
    assert_problem(client.get(path, headers=other), 404)
    assert_problem(client.delete(path, headers=other), 404)
    assert_problem(client.patch(path, json={"url": URL}, headers={**other, "If-Match": '"1"'}), 404)
    assert_problem(client.get(f"{path}/deliveries", headers=other), 404)
    assert client.get("/v1/webhooks", headers=other).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://example.com/x"}, ["body", "url"]),
        ({"url": "/relative/path"}, ["body", "url"]),
        ({"url": "https://"}, ["body", "url"]),
        ({"url": "https://exa mple.com/"}, ["body", "url"]),
        ({"url": URL, "event_types": ["bet.exploded"]}, ["body", "event_types", 0]),
        ({"url": URL, "secret": "whsec_mine"}, ["body", "secret"]),
        ({}, ["body", "url"]),
    ],
)
def test_invalid_bodies_are_422(
    client: TestClient, tenant_headers: dict[str, str], body: dict[str, Any], loc: list[Any]
) -> None:
    problem = assert_problem(client.post("/v1/webhooks", json=body, headers=tenant_headers), 422)
    assert loc in [e["loc"] for e in problem["errors"]]


def test_patch_needs_if_match_and_re_enabling_resets_failures(
    client: TestClient, tenant_headers: dict[str, str], raw_engine: Engine
) -> None:
    created = _create(client, tenant_headers)
    path = f"/v1/webhooks/{created['id']}"
    assert_problem(client.patch(path, json={"status": "disabled"}, headers=tenant_headers), 428)
    off = client.patch(
        path, json={"status": "disabled"}, headers={**tenant_headers, "If-Match": '"1"'}
    )
    assert off.status_code == 200, off.text
    assert (off.json()["status"], off.json()["disabled_reason"]) == (
        "disabled",
        "disabled through the API",
    )
    with raw_engine.begin() as conn:  # as if the worker had counted failures
        conn.execute(
            text("UPDATE webhook_endpoints SET consecutive_failures = 7 WHERE id = :id"),
            {"id": created["id"]},
        )
    on = client.patch(
        path,
        json={"status": "active", "event_types": ["match.result"]},
        headers={**tenant_headers, "If-Match": off.headers["etag"]},
    )
    assert on.status_code == 200, on.text
    body = on.json()
    assert (body["status"], body["consecutive_failures"], body["disabled_reason"]) == (
        "active",
        0,
        None,
    )
    assert body["event_types"] == ["match.result"]
    stale = client.patch(path, json={"url": URL}, headers={**tenant_headers, "If-Match": '"1"'})
    assert_problem(stale, 412)
    assert_problem(
        client.patch(
            path, json={"url": None}, headers={**tenant_headers, "If-Match": on.headers["etag"]}
        ),
        422,
    )
    assert client.delete(path, headers=tenant_headers).status_code == 204
    with raw_engine.connect() as conn:
        trail = conn.execute(
            text(
                "SELECT action, changes FROM audit_log WHERE entity_type = 'webhook_endpoint' "
                "AND entity_id = :id ORDER BY occurred_at, id"
            ),
            {"id": created["id"]},
        ).all()
    assert [t.action for t in trail] == ["create", "update", "update", "delete"]
    assert trail[1].changes["status"] == ["active", "disabled"]
    assert trail[2].changes["event_types"] == [[], ["match.result"]]
    assert all("secret" not in t.changes for t in trail)


def test_deliveries_attempts_redelivery_and_delete(
    client: TestClient, tenant: tuple[dict[str, Any], dict[str, str]], raw_engine: Engine
) -> None:
    body, headers = tenant
    endpoint = _create(client, headers)
    (event_id,) = insert_events(raw_engine, body["id"])
    # A delivery as the fan-out makes it, dead after one failed attempt.
    delivery_id = "msg_" + "ab" * 16
    with raw_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, "
                "event_type, status, attempts, last_status_code, last_error) VALUES "
                "(:id, :tenant, :endpoint, :event, 'bet.placed', 'dead', 1, 500, 'HTTP 500')"
            ),
            {
                "id": delivery_id,
                "tenant": body["id"],
                "endpoint": endpoint["id"],
                "event": event_id,
            },
        )
        conn.execute(
            text(
                "INSERT INTO webhook_attempts (tenant_id, delivery_id, status_code, error, "
                "duration_ms) VALUES (:tenant, :id, 500, 'HTTP 500', 12)"
            ),
            {"id": delivery_id, "tenant": body["id"]},
        )
    base = f"/v1/webhooks/{endpoint['id']}/deliveries"
    page = client.get(base, headers=headers).json()
    assert [(d["id"], d["status"], d["attempt_count"]) for d in page["items"]] == [
        (delivery_id, "dead", 1)
    ]
    assert client.get(f"{base}?status=succeeded", headers=headers).json()["items"] == []
    assert_problem(client.get(f"{base}?status=lost", headers=headers), 422)
    detail = client.get(f"{base}/{delivery_id}", headers=headers).json()
    assert detail["attempts"][0]["status_code"] == 500
    assert detail["attempts"][0]["duration_ms"] == 12
    assert {k: v for k, v in detail.items() if k != "attempts"} == page["items"][0]
    assert_problem(client.get(f"{base}/msg_nope", headers=headers), 422)
    assert_problem(client.get(f"{base}/msg_{'cd' * 16}", headers=headers), 404)

    again = client.post(f"{base}/{delivery_id}/redeliver", headers=headers)
    assert again.status_code == 202, again.text
    assert (again.json()["id"], again.json()["status"]) == (delivery_id, "pending")
    with raw_engine.connect() as conn:
        job = conn.execute(
            text(
                "SELECT kind, status, payload, run_at <= now() AS due FROM jobs "
                "WHERE unique_key = :k"
            ),
            {"k": f"webhook.deliver:{delivery_id}"},
        ).one()
    assert (job.kind, job.status, job.payload, job.due) == (
        "webhook.deliver",
        "queued",
        {"delivery_id": delivery_id},
        True,
    )
    # Twice: still one job.
    assert client.post(f"{base}/{delivery_id}/redeliver", headers=headers).status_code == 202
    with raw_engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM jobs WHERE unique_key = :k"),
            {"k": f"webhook.deliver:{delivery_id}"},
        ).scalar()
    assert n == 1

    gone = client.delete(f"/v1/webhooks/{endpoint['id']}", headers=headers)
    assert gone.status_code == 204
    assert_problem(client.get(f"/v1/webhooks/{endpoint['id']}", headers=headers), 404)
    assert_problem(client.get(base, headers=headers), 404)
    with raw_engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM webhook_attempts WHERE delivery_id = :id"),
            {"id": delivery_id},
        ).scalar()
    assert left == 0
