"""Who is calling: the admin key or a tenant's API key. Travels into the Unit of Work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from backend.core.ratelimit import RateLimit

ADMIN_ACTOR = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["admin", "tenant", "system"]
    actor: str
    tenant_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    rate_limit: RateLimit | None = None  # None: unlimited

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


ADMIN = Principal(kind="admin", actor=ADMIN_ACTOR)


def system(actor: str) -> Principal:
    """A principal for command-line tools and jobs (importer, demo loader)."""
    return Principal(kind="system", actor=actor)
