"""Logs: one JSON line per request with route template, status, duration, request and tenant."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.core.logging import configure_logging
from tests.helpers import make_strategy


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json")
    handler = logging.getLogger("oddsdesk").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    configure_logging("INFO", "text")


def test_one_json_line_per_request_with_tenant_and_route_template(
    client: TestClient, tenant: tuple[dict[str, object], dict[str, str]], json_log: io.StringIO
) -> None:
    body, headers = tenant
    strategy = make_strategy(client, headers)
    json_log.truncate(0)
    json_log.seek(0)
    client.get(
        f"/v1/strategies/{strategy['id']}", headers={**headers, "X-Request-ID": "trace-log-1"}
    )
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    access = [entry for entry in lines if entry["msg"] == "request"]
    assert len(access) == 1
    entry = access[0]
    assert entry["route"] == "/v1/strategies/{strategy_id}"
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert entry["request_id"] == "trace-log-1"
    assert entry["tenant_id"] == body["id"]
    assert entry["duration_ms"] >= 0
    assert strategy["id"] not in json.dumps(entry)  # templates, never raw paths
