"""The work queue: one row per job, claimed with `FOR UPDATE SKIP LOCKED` under a lease.

A job is `queued` until its `run_at`, then `running` while a worker holds its lease
(`leased_by`, `leased_until`), then `done` or `dead` (its attempts used up). A running job
whose lease expired (its worker died) is claimed again. A periodic job (`repeat_s`) is
queued again for `now() + repeat_s` when it is done, so each `unique_key` names at most one
live job however many workers schedule it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base

JOB_STATUSES = ("queued", "running", "done", "dead")
LIVE = "status = 'queued' OR status = 'running'"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=sql_text("'{}'::jsonb")
    )
    priority: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    run_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default=sql_text("'queued'")
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="5")
    leased_by: Mapped[str | None] = mapped_column(String(128))
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # At most one live (queued or running) job per key: periodic jobs, one delivery's job.
    unique_key: Mapped[str | None] = mapped_column(String(200))
    # Periodic: queued again this many seconds after it is done.
    repeat_s: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            f"status IN ({', '.join(repr(s) for s in JOB_STATUSES)})", name="status_valid"
        ),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("repeat_s > 0", name="repeat_s_positive"),
        # Claiming: the queued jobs due first, and the running ones whose lease expired.
        Index(
            "ix_jobs_claim_queued",
            sql_text("priority DESC"),
            "run_at",
            "id",
            postgresql_where=sql_text("status = 'queued'"),
        ),
        Index(
            "ix_jobs_claim_expired",
            "leased_until",
            postgresql_where=sql_text("status = 'running'"),
        ),
        Index(
            "uq_jobs_unique_key_live",
            "unique_key",
            unique=True,
            postgresql_where=sql_text(LIVE),
        ),
    )
