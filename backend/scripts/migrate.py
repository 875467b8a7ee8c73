"""Run Alembic migrations programmatically (the launcher and the tests use this)."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

from backend.scripts.localdb import PROJECT_ROOT


def alembic_config() -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "backend" / "alembic"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str | URL, revision: str = "head") -> None:
    _with_connection(url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str | URL, revision: str = "base") -> None:
    _with_connection(url, lambda cfg: command.downgrade(cfg, revision))


def _with_connection(url: str | URL, action: Callable[[Config], None]) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            action(cfg)
    finally:
        engine.dispose()
