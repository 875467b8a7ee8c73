"""Webhook delivery end to end: events inserted with SQL, a worker in a thread fanning them
out and sending them to a real HTTP receiver on 127.0.0.1 that verifies every signature."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.core.config import Settings
from tests.helpers import make_tenant
from tests.webhook_events import insert_events
from tests.webhook_receiver import Receiver, receiver
from tests.worker_helpers import running_worker, wait_until


def _endpoint(
    client: TestClient, headers: dict[str, str], hook: Receiver, **fields: Any
) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": hook.url, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    hook.secret = body["secret"]
    return body


def _deliveries(engine: Engine, endpoint_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, event_id, status, attempts FROM webhook_deliveries "
                    "WHERE endpoint_id = :id ORDER BY event_id"
                ),
                {"id": endpoint_id},
            )
        )


def test_events_reach_each_matching_endpoint_once_signed(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, settings: Settings
) -> None:
    tenant_a, a = make_tenant(client, admin_headers)
    _, b = make_tenant(client, admin_headers)
    with receiver() as all_a, receiver() as settled_a, receiver() as all_b:
        ep_all = _endpoint(client, a, all_a)
        ep_settled = _endpoint(client, a, settled_a, event_types=["bet.settled"])
        ep_b = _endpoint(client, b, all_b)
        placed = insert_events(raw_engine, tenant_a["id"], 5, "bet.placed")
        settled = insert_events(raw_engine, tenant_a["id"], 2, "bet.settled", {"pnl": "11.50"})
        (reference,) = insert_events(raw_engine, None, 1, "match.result")
        with running_worker(settings):
            wait_until(lambda: len(all_a.delivered) == 8 and len(all_b.delivered) == 1)
            wait_until(lambda: len(settled_a.delivered) == 2)
        assert all(r.verified for r in all_a.requests + settled_a.requests + all_b.requests)
        got = {r.body["data"]["event_id"] for r in all_a.requests}
        assert got == {*placed, *settled, reference}
        assert {r.body["data"]["event_id"] for r in settled_a.requests} == set(settled)
        assert [r.body["data"]["event_id"] for r in all_b.requests] == [reference]
        first = next(r for r in all_a.requests if r.body["data"]["event_id"] == settled[0])
        assert first.body["type"] == "bet.settled"
        assert first.body["timestamp"].endswith("Z")
        assert first.body["data"]["pnl"] == "11.50"
        assert first.body["data"]["entity_type"] == "bet"
        assert first.headers["content-type"] == "application/json"
        rows = _deliveries(raw_engine, ep_all["id"])
        assert {r.id for r in rows} == {r.headers["webhook-id"] for r in all_a.requests}
        assert {(r.status, r.attempts) for r in rows} == {("succeeded", 1)}
        assert len(_deliveries(raw_engine, ep_settled["id"])) == 2
        assert len(_deliveries(raw_engine, ep_b["id"])) == 1


def test_a_failing_receiver_gets_retries_with_the_same_webhook_id(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, settings: Settings
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    with receiver(fail_first=2) as hook:
        endpoint = _endpoint(client, headers, hook)
        insert_events(raw_engine, tenant["id"])
        with running_worker(settings):
            wait_until(lambda: len(hook.delivered) == 1)
        assert [r.status for r in hook.requests] == [500, 500, 204]
        assert len({r.headers["webhook-id"] for r in hook.requests}) == 1
        assert len({r.headers["webhook-signature"] for r in hook.requests}) >= 1
        assert all(r.verified for r in hook.requests)
    (row,) = _deliveries(raw_engine, endpoint["id"])
    path = f"/v1/webhooks/{endpoint['id']}/deliveries/{row.id}"
    detail = client.get(path, headers=headers).json()
    assert (detail["status"], detail["attempt_count"]) == ("succeeded", 3)
    assert [a["status_code"] for a in detail["attempts"]] == [500, 500, 204]
    assert [a["error"] for a in detail["attempts"]] == ["HTTP 500", "HTTP 500", None]
    assert detail["delivered_at"] is not None
    ep = client.get(f"/v1/webhooks/{endpoint['id']}", headers=headers).json()
    assert (ep["status"], ep["consecutive_failures"]) == ("active", 0)


def test_dead_letters_disable_the_endpoint_and_redelivery_revives_one(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, settings: Settings
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    with receiver(always_fail=True) as hook:
        endpoint = _endpoint(client, headers, hook)
        insert_events(raw_engine, tenant["id"], 3)
        base = f"/v1/webhooks/{endpoint['id']}"
        with running_worker(settings, webhook_max_attempts=2, webhook_disable_after_failures=3):

            def settled() -> bool:
                rows = _deliveries(raw_engine, endpoint["id"])
                return len(rows) == 3 and all(r.status == "dead" for r in rows)

            wait_until(settled)
            ep = client.get(base, headers=headers).json()
            assert ep["status"] == "disabled"
            assert ep["consecutive_failures"] == 3
            assert ep["disabled_reason"].startswith("3 failed deliveries in a row")
            assert len(hook.requests) == 3  # nothing sent once it was disabled
            dead = client.get(f"{base}/deliveries?status=dead", headers=headers).json()
            assert len(dead["items"]) == 3

            # Fixed receiver, endpoint enabled again, one delivery sent again.
            hook.always_fail = False
            on = client.patch(
                base,
                json={"status": "active"},
                headers={**headers, "If-Match": f'"{ep["version"]}"'},
            )
            assert on.status_code == 200, on.text
            target = dead["items"][0]["id"]
            again = client.post(f"{base}/deliveries/{target}/redeliver", headers=headers)
            assert again.status_code == 202
            wait_until(lambda: len(hook.delivered) == 1)
        assert hook.delivered[0].headers["webhook-id"] == target
        assert hook.delivered[0].verified
        detail = client.get(f"{base}/deliveries/{target}", headers=headers).json()
        assert detail["status"] == "succeeded"
        assert detail["attempts"][-1]["status_code"] == 204


def test_non_public_addresses_are_refused_where_private_targets_are_off(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, settings: Settings
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    with receiver() as hook:
        endpoint = _endpoint(client, headers, hook)
        insert_events(raw_engine, tenant["id"])
        with running_worker(settings, webhook_private_targets=False, webhook_max_attempts=2):
            wait_until(
                lambda: [r.status for r in _deliveries(raw_engine, endpoint["id"])] == ["dead"]
            )
        assert hook.requests == []  # nothing reached the loopback receiver
    (row,) = _deliveries(raw_engine, endpoint["id"])
    detail = client.get(
        f"/v1/webhooks/{endpoint['id']}/deliveries/{row.id}", headers=headers
    ).json()
    assert [a["error"] for a in detail["attempts"]] == [
        "refused: the host resolves to a non-public address (127.0.0.1)"
    ] * 2
    assert [a["status_code"] for a in detail["attempts"]] == [None, None]


def test_a_delivery_whose_job_dies_of_an_error_is_dead_not_left_pending(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, settings: Settings
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    with receiver() as hook:
        endpoint = _endpoint(client, headers, hook)
        with running_worker(settings, webhook_max_attempts=2, job_retry_base_s=0.0) as worker:

            def broken(uow: Any, job: Any) -> None:
                raise RuntimeError("the sender broke")

            worker.handlers["webhook.deliver"] = broken
            insert_events(raw_engine, tenant["id"])
            wait_until(
                lambda: [r.status for r in _deliveries(raw_engine, endpoint["id"])] == ["dead"]
            )
        assert hook.requests == []
    (row,) = _deliveries(raw_engine, endpoint["id"])
    detail = client.get(
        f"/v1/webhooks/{endpoint['id']}/deliveries/{row.id}", headers=headers
    ).json()
    assert detail["last_error"] == "RuntimeError: the sender broke"
