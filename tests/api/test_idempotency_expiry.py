"""Idempotency records live 24 h: expired ones are ignored, replaced, and purged."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import (
    bet_body,
    count_rows,
    idem,
    make_bookmaker,
    make_match,
    make_strategy,
    make_tenant,
)


def _age(raw_engine: Engine, key: str) -> None:
    with raw_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours', "
                "expires_at = now() - interval '1 hour' WHERE key = :k"
            ),
            {"k": key},
        )


def test_expired_key_is_judged_afresh_and_purged(
    client: TestClient, admin_headers: dict[str, str], raw_engine: Engine, database_url: Any
) -> None:
    _, headers = make_tenant(client, admin_headers)
    strategy = make_strategy(client, headers)
    match = make_match(client, admin_headers, kickoff_at="2035-01-01T12:00:00Z")
    book = make_bookmaker(client, admin_headers)
    key = idem(headers)
    first = client.post(
        "/v1/bets", json=bet_body(strategy["id"], match["id"], book["id"]), headers=key
    )
    assert first.status_code == 201
    _age(raw_engine, key["Idempotency-Key"])
    # 24 h later the key is free again: a different request under it is a new bet.
    second = client.post(
        "/v1/bets", json=bet_body(strategy["id"], match["id"], book["id"], stake="20"), headers=key
    )
    assert second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]
    _age(raw_engine, key["Idempotency-Key"])

    env = {"DATABASE_URL": database_url.render_as_string(hide_password=False), "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "backend.scripts.purge_idempotency_keys"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert "purged" in result.stdout
    assert (
        count_rows(
            raw_engine,
            "SELECT count(*) FROM idempotency_keys WHERE key = :k",
            k=key["Idempotency-Key"],
        )
        == 0
    )
    assert (
        count_rows(raw_engine, "SELECT count(*) FROM idempotency_keys WHERE expires_at <= now()")
        == 0
    )
