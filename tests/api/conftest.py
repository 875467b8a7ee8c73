"""Fixtures for the trading tests: a tenant with a strategy, and an open market to bet on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import URL

from backend.core.config import Settings
from backend.core.database import Database, create_database
from backend.scripts import localdb, migrate
from tests.helpers import make_bookmaker, make_match, make_strategy, make_tenant


@pytest.fixture
def tenant(
    client: TestClient, admin_headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    return make_tenant(client, admin_headers)


@pytest.fixture
def tenant_headers(tenant: tuple[dict[str, Any], dict[str, str]]) -> dict[str, str]:
    return tenant[1]


@pytest.fixture
def market(client: TestClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    """A scheduled match in the future and a bookmaker: bets are accepted."""
    match = make_match(client, admin_headers, kickoff_at="2035-05-01T15:00:00Z")
    return {"match_id": match["id"], "bookmaker_id": make_bookmaker(client, admin_headers)["id"]}


@pytest.fixture
def strategy(client: TestClient, tenant_headers: dict[str, str]) -> dict[str, Any]:
    return make_strategy(client, tenant_headers)


@dataclass
class Stack:
    """A database of its own (fresh, migrated) and an app on it."""

    url: URL
    db: Database
    client: TestClient


@pytest.fixture(scope="module")
def fresh_stack(server_url: URL, settings: Settings) -> Iterator[Stack]:
    from backend.api.app import create_app

    name = f"oddsdesk_fresh_{uuid.uuid4().hex[:10]}"
    localdb.ensure_database(server_url, name)
    url = localdb.with_database(server_url, name)
    try:
        migrate.upgrade(url)
        own = settings.model_copy(
            update={"database_url": SecretStr(url.render_as_string(hide_password=False))}
        )
        db = create_database(own)
        try:
            with TestClient(create_app(own, db), raise_server_exceptions=False) as client:
                yield Stack(url, db, client)
        finally:
            db.dispose()
    finally:
        localdb.drop_database(server_url, name)
