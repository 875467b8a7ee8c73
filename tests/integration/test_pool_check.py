from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy.engine import URL

from tests.helpers import POOL_FIELDS


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.scripts.pool_check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin", "DATABASE_URL": url},
    )


def test_healthy_database_reports_latency_version_and_pool(database_url: URL) -> None:
    url = database_url.render_as_string(hide_password=False)
    text_out = _run(url)
    assert text_out.returncode == 0, text_out.stderr
    assert text_out.stdout.startswith("ok: ")
    assert (
        "pool: size 10," in text_out.stdout and "overflow 0/5," in text_out.stdout
    )  # the defaults
    report = json.loads(_run(url, "--json").stdout)
    assert report["status"] == "ok"
    assert report["database"]["latency_ms"] >= 0
    assert int(report["database"]["server_version"].split(".")[0]) >= 15
    assert set(report["pool"]) == POOL_FIELDS


def test_unreachable_database_exits_2() -> None:
    result = _run("postgresql://nobody@127.0.0.1:1/none", "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["status"] == "unavailable"
    assert report["database"]["ok"] is False
    assert "Traceback" not in result.stderr
