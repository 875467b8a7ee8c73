"""The Unit of Work's session: what its event hooks read, as attributes of the session.

`create_database` builds every session of the app from this class; the Unit of Work fills
the attributes when it opens one, the hooks (row-level-security context on `after_begin`,
audit on flush) read them. A plain `Session` has none of them: the hooks leave it alone, and
audited entities refuse to be written through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from backend.core.preamble import Preamble
    from backend.repositories.audit import AuditBuffer


class UnitSession(Session):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The unit's audit buffer: flush hooks stamp actors and record diffs into it.
        self.audit: AuditBuffer | None = None
        # tenant / bypass / key of the unit (None: the session sets no RLS context).
        self.rls_context: dict[str, Any] | None = None
        self.read_only = False
        # A transaction the unit already began on its connection, with this preamble: the
        # session's first transaction adopts it instead of arming a new one.
        self.inherited_preamble: Preamble | None = None
        # The preamble armed for the session's current transaction, and its connection (for
        # the hot paths' plain SQL, without the session's bookkeeping per call).
        self.preamble: Preamble | None = None
        self.current_connection: Connection | None = None
