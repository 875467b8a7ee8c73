"""Every mapped model, imported so `Base.metadata` is complete."""

from backend.models.audit import AuditLog
from backend.models.base import Base
from backend.models.reference import Bookmaker, Match, Team

__all__ = ["AuditLog", "Base", "Bookmaker", "Match", "Team"]
