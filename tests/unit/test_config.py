from __future__ import annotations

import pytest
from pydantic import ValidationError

from backend.core.config import Settings, format_validation_error


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "DATABASE_URL",
        "DB_HOST",
        "DB_PORT",
        "DB_USER",
        "DB_PASSWORD",
        "DB_NAME",
        "APP_ENV",
        "ADMIN_API_KEY",
        "DB_POOL_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no .env here


def test_defaults_match_the_documented_pool() -> None:
    s = Settings()
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_timeout, s.db_pool_recycle) == (
        10,
        5,
        30.0,
        3600,
    )
    # The routes' threadpool follows the pool: no request waits for (or churns) a connection.
    assert s.threads == s.db_pool_size
    assert s.db_pool_pre_ping is True
    assert s.db_slow_query_ms == 500
    assert s.app_env == "development"


def test_url_wins_over_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "ignored.example")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.internal:6543/desk")
    url = Settings().sqlalchemy_url
    assert (url.host, url.port, url.database, url.drivername) == (
        "db.internal",
        6543,
        "desk",
        "postgresql+psycopg2",
    )


def test_parts_build_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "pg")
    monkeypatch.setenv("DB_PORT", "5433")
    monkeypatch.setenv("DB_USER", "desk")
    monkeypatch.setenv("DB_PASSWORD", "s3cret")
    monkeypatch.setenv("DB_NAME", "odds")
    url = Settings().sqlalchemy_url
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "pg",
        5433,
        "desk",
        "s3cret",
        "odds",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_POOL_SIZE", "zero"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_TIMEOUT", "-1"),
        ("APP_ENV", "staging"),
        ("DATABASE_URL", "mysql://x@y/z"),
        ("DATABASE_URL", "::nonsense"),
        ("JOB_LEASE_S", "0"),
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
        ("WEBHOOK_TIMEOUT_S", "-1"),
        ("WORKER_WITH_SERVER", "maybe"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name in format_validation_error(info.value)


def test_production_refuses_short_admin_key_and_empty_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DB_PASSWORD", "pw")
    monkeypatch.setenv("ADMIN_API_KEY", "short")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings()
    monkeypatch.setenv("ADMIN_API_KEY", "k" * 40)
    monkeypatch.setenv("DB_PASSWORD", "")
    with pytest.raises(ValidationError, match="password"):
        Settings()
    monkeypatch.setenv("DB_PASSWORD", "pw")
    assert Settings().app_env == "production"


def test_serving_requires_an_admin_key() -> None:
    with pytest.raises(SystemExit, match="ADMIN_API_KEY"):
        Settings().require_admin_key()


def test_every_setting_is_documented_in_env_example_and_readme() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()
    for name in Settings.model_fields:
        variable = name.upper()
        assert f"{variable}=" in example, f"{variable} missing from .env.example"
        assert f"`{variable}`" in readme, f"{variable} missing from the README"


def test_a_job_lease_must_outlast_a_webhook_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_LEASE_S", "10")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_S", "10")
    with pytest.raises(ValidationError, match="JOB_LEASE_S must be longer than WEBHOOK_TIMEOUT_S"):
        Settings()
    monkeypatch.setenv("JOB_LEASE_S", "11")
    assert Settings().job_lease_s == 11


def test_webhooks_reach_private_addresses_except_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().webhooks_may_reach_private_addresses is True
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DB_PASSWORD", "pw")
    monkeypatch.setenv("ADMIN_API_KEY", "k" * 40)
    assert Settings().webhooks_may_reach_private_addresses is False
    monkeypatch.setenv("WEBHOOK_PRIVATE_TARGETS", "true")
    assert Settings().webhooks_may_reach_private_addresses is True
