"""Derived statistics in their own schema, rebuilt set-based from finished matches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base
from backend.models.reference import Team

SCHEMA = "analytics"


class TeamProfile(Base):
    __tablename__ = "team_profiles"
    __table_args__ = {"schema": SCHEMA}

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    matches: Mapped[int] = mapped_column(Integer, nullable=False)
    goals_for: Mapped[int] = mapped_column(Integer, nullable=False)
    goals_against: Mapped[int] = mapped_column(Integer, nullable=False)
    wins: Mapped[int] = mapped_column(Integer, nullable=False)
    draws: Mapped[int] = mapped_column(Integer, nullable=False)
    losses: Mapped[int] = mapped_column(Integer, nullable=False)
    home_matches: Mapped[int] = mapped_column(Integer, nullable=False)
    home_wins: Mapped[int] = mapped_column(Integer, nullable=False)
    away_matches: Mapped[int] = mapped_column(Integer, nullable=False)
    away_wins: Mapped[int] = mapped_column(Integer, nullable=False)
    form: Mapped[str] = mapped_column(String(5), nullable=False)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    team: Mapped[Team] = relationship(lazy="raise")


class HeadToHead(Base):
    """One row per unordered pair (team_a_id < team_b_id)."""

    __tablename__ = "head_to_head"
    __table_args__ = (
        CheckConstraint("team_a_id < team_b_id", name="ordered_pair"),
        {"schema": SCHEMA},
    )

    team_a_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    team_b_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    meetings: Mapped[int] = mapped_column(Integer, nullable=False)
    team_a_wins: Mapped[int] = mapped_column(Integer, nullable=False)
    draws: Mapped[int] = mapped_column(Integer, nullable=False)
    team_b_wins: Mapped[int] = mapped_column(Integer, nullable=False)
    goals: Mapped[int] = mapped_column(Integer, nullable=False)
    last_meeting_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
