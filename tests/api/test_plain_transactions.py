"""The whole bet path with DB_PIPELINE=false (plain SQLAlchemy/psycopg2 transactions): the
same answers, money and audit trail as the pipelined default."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.core.config import Settings
from tests.helpers import (
    bet_body,
    count_rows,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)


@pytest.fixture(scope="module")
def plain_client(settings: Settings) -> Iterator[TestClient]:
    from backend.api.app import create_app
    from backend.core.database import create_database

    plain = settings.model_copy(update={"db_pipeline": False})
    db = create_database(plain)
    try:
        with TestClient(create_app(plain, db), raise_server_exceptions=False) as client:
            yield client
    finally:
        db.dispose()


def test_bets_replays_lists_and_a_cancel_in_plain_mode(
    plain_client: TestClient, admin_headers: dict[str, str], raw_engine: Engine
) -> None:
    client = plain_client
    tenant, headers = make_tenant(client, admin_headers)
    match = make_match(client, admin_headers, kickoff_at="2035-10-01T15:00:00Z")
    book = make_bookmaker(client, admin_headers)
    strategy = make_strategy(client, headers)
    body = bet_body(strategy["id"], match["id"], book["id"], stake="25.00")
    key = idem(headers)
    first = client.post("/v1/bets", json=body, headers=key)
    assert first.status_code == 201, first.text
    again = client.post("/v1/bets", json=body, headers=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    listed = client.get("/v1/bets", headers=headers).json()["items"]
    assert [b["id"] for b in listed] == [first.json()["id"]]
    read = client.get(f"/v1/strategies/{strategy['id']}", headers=headers).json()
    assert Decimal(read["bankroll"]) == Decimal("975.00")
    cancel = client.post(
        f"/v1/matches/{match['id']}/cancel", json={"reason": "plain"}, headers=admin_headers
    )
    assert cancel.status_code == 200, cancel.text
    after = client.get(f"/v1/strategies/{strategy['id']}", headers=headers).json()
    assert Decimal(after["bankroll"]) == Decimal("1000.00")
    audit = count_rows(
        raw_engine, "SELECT count(*) FROM audit_log WHERE tenant_id = :t", t=tenant["id"]
    )
    # The strategy created; the bet placed and its debit; the bet voided and its credit.
    assert audit == 5, audit
    # A read-only request on a plain transaction still refuses another tenant's rows.
    _, other = make_tenant(client, admin_headers)
    assert client.get(f"/v1/strategies/{strategy['id']}", headers=other).status_code == 404
