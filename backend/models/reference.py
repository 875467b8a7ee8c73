"""Reference data shared by every tenant: teams, bookmakers, matches."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import AuditMixin, Base, TimestampMixin, VersionMixin

MATCH_STATUSES = ("scheduled", "finished", "cancelled")


class Team(TimestampMixin, AuditMixin, VersionMixin, Base):
    __tablename__ = "teams"
    __audit_entity__: ClassVar[str | None] = "team"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    country: Mapped[str | None] = mapped_column(String(100))
    league: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("uq_teams_lower_name", func.lower(text("name")), unique=True),
        Index("ix_teams_name_id", "name", "id"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    )


class Bookmaker(TimestampMixin, AuditMixin, VersionMixin, Base):
    __tablename__ = "bookmakers"
    __audit_entity__: ClassVar[str | None] = "bookmaker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    is_sharp: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())

    __table_args__ = (
        Index("uq_bookmakers_lower_name", func.lower(text("name")), unique=True),
        Index("ix_bookmakers_name_id", "name", "id"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    )


class Match(TimestampMixin, AuditMixin, VersionMixin, Base):
    __tablename__ = "matches"
    __audit_entity__: ClassVar[str | None] = "match"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    league: Mapped[str] = mapped_column(String(100), nullable=False)
    season: Mapped[str] = mapped_column(String(7), nullable=False)
    home_team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    away_team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    kickoff_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default=text("'scheduled'")
    )
    home_score: Mapped[int | None] = mapped_column(SmallInteger)
    away_score: Mapped[int | None] = mapped_column(SmallInteger)

    home_team: Mapped[Team] = relationship(foreign_keys=[home_team_id], lazy="raise")
    away_team: Mapped[Team] = relationship(foreign_keys=[away_team_id], lazy="raise")

    __table_args__ = (
        UniqueConstraint("home_team_id", "away_team_id", "kickoff_at"),
        CheckConstraint("home_team_id <> away_team_id", name="distinct_teams"),
        CheckConstraint("status IN ('scheduled', 'finished', 'cancelled')", name="status_valid"),
        CheckConstraint(r"season ~ '^[0-9]{4}-[0-9]{2}$'", name="season_format"),
        CheckConstraint(
            "(home_score IS NULL AND away_score IS NULL) OR "
            "(home_score BETWEEN 0 AND 99 AND away_score BETWEEN 0 AND 99)",
            name="scores_valid",
        ),
        CheckConstraint(
            "(status = 'finished') = (home_score IS NOT NULL)", name="scores_iff_finished"
        ),
        Index("ix_matches_kickoff_at_id", "kickoff_at", "id"),
    )
