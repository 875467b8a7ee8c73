"""GET /metrics: Prometheus text with route templates, pool gauges and failure counters."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import make_team


def _samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_requests_are_counted_by_route_template_never_raw_path(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    team = make_team(client, admin_headers)
    key = (
        "oddsdesk_http_requests_total",
        frozenset({("method", "GET"), ("route", "/v1/teams/{team_id}"), ("status", "200")}),
    )
    before = _samples(client).get(key, 0.0)
    for _ in range(3):
        client.get(f"/v1/teams/{team['id']}", headers=admin_headers)
    client.get("/v1/teams/99999999", headers=admin_headers)
    samples = _samples(client)
    assert samples[key] == before + 3
    missing = (
        "oddsdesk_http_requests_total",
        frozenset({("method", "GET"), ("route", "/v1/teams/{team_id}"), ("status", "404")}),
    )
    assert samples[missing] >= 1
    text = client.get("/metrics").text
    assert not re.search(r'route="/v1/teams/\d+"', text)
    assert "oddsdesk_http_request_duration_seconds_bucket" in text
    assert samples[("oddsdesk_db_pool_size", frozenset())] == 5
    assert ("oddsdesk_db_pool_checked_out", frozenset()) in samples
