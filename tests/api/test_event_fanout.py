"""The fan-out of events into deliveries: the read-order rule (an event committed late by an
older transaction is not skipped) and exactly one delivery per event and endpoint, with one
job each, whatever the number of concurrent dispatchers."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend.core.database import Database
from backend.core.principal import system
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.worker import fan_out
from tests.helpers import make_tenant
from tests.webhook_events import insert_events

URL = "http://127.0.0.1:9/hooks"  # never sent: no worker runs here


def _fan_out_all(db: Database) -> None:
    while fan_out(UnitOfWork(db.session_factory, system("test")), 50, 3).events == 50:
        pass


def _delivered(engine: Engine, endpoint_id: str) -> list[int]:
    with engine.connect() as conn:
        return [
            r.event_id
            for r in conn.execute(
                text(
                    "SELECT d.event_id FROM webhook_deliveries d "
                    "JOIN jobs j ON j.unique_key = 'webhook.deliver:' || d.id "
                    "WHERE d.endpoint_id = :id ORDER BY d.event_id"
                ),
                {"id": endpoint_id},
            )
        ]


def test_an_event_committed_late_by_an_older_transaction_is_not_skipped(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, db: Database
) -> None:
    tenant, headers = make_tenant(client, admin_headers)
    endpoint = client.post("/v1/webhooks", json={"url": URL}, headers=headers).json()
    _fan_out_all(db)
    with raw_engine.connect() as slow:
        older = slow.begin()
        (late,) = slow.execute(
            text(
                "INSERT INTO events (tenant_id, type, entity_type, entity_id, payload) "
                "VALUES (:t, 'bet.placed', 'bet', 'late', '{}') RETURNING id"
            ),
            {"t": tenant["id"]},
        ).one()
        (early,) = insert_events(raw_engine, tenant["id"])  # a younger transaction, committed
        _fan_out_all(db)
        # Not yet: the older transaction still runs, so the younger one's event waits too
        # (the cursor must not pass a position an older transaction can still fill).
        assert _delivered(raw_engine, endpoint["id"]) == []
        older.commit()
    _fan_out_all(db)
    assert _delivered(raw_engine, endpoint["id"]) == sorted([late, early])
    assert client.delete(f"/v1/webhooks/{endpoint['id']}", headers=headers).status_code == 204


@pytest.mark.parametrize("round_", range(20))
def test_concurrent_dispatchers_make_one_delivery_and_one_job_per_event(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, db: Database, round_: int
) -> None:
    """8 dispatchers racing over the same events, 20 times: each time every event has exactly
    one delivery (with its one job) per endpoint."""
    tenant, headers = make_tenant(client, admin_headers)
    endpoints = [
        client.post("/v1/webhooks", json={"url": URL}, headers=headers).json() for _ in range(2)
    ]
    events = insert_events(raw_engine, tenant["id"], 60)
    start = threading.Barrier(8)

    def dispatcher() -> None:
        start.wait()
        for _ in range(5):
            _fan_out_all(db)

    threads = [threading.Thread(target=dispatcher) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for endpoint in endpoints:
        assert _delivered(raw_engine, endpoint["id"]) == events
        assert client.delete(f"/v1/webhooks/{endpoint['id']}", headers=headers).status_code == 204
