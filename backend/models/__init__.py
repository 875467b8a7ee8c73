"""Every mapped model, imported so `Base.metadata` is complete."""

from backend.models.analytics import HeadToHead, TeamProfile
from backend.models.audit import AuditLog
from backend.models.base import Base
from backend.models.events import Event
from backend.models.jobs import Job
from backend.models.odds import OddsSnapshot
from backend.models.reference import Bookmaker, Match, Team
from backend.models.tenancy import ApiKey, Tenant
from backend.models.trading import Bet, IdempotencyKey, Strategy
from backend.models.webhooks import (
    EventDispatchCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "ApiKey",
    "AuditLog",
    "Base",
    "Bet",
    "Bookmaker",
    "Event",
    "EventDispatchCursor",
    "HeadToHead",
    "IdempotencyKey",
    "Job",
    "Match",
    "OddsSnapshot",
    "Strategy",
    "Team",
    "TeamProfile",
    "Tenant",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
