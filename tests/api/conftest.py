"""Fixtures for the trading tests: a tenant with a strategy, and an open market to bet on."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

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
