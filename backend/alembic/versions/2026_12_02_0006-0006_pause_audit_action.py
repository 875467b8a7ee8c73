"""pause audit action

Strategies get a dedicated pause action (like kill and resume): its audit entries are
`pause`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 19:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("create", "update", "delete", "kill", "resume", "settle", "void")
AFTER = ("create", "update", "delete", "kill", "pause", "resume", "settle", "void")


def _check(actions: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_audit_log_action_valid"), "audit_log", type_="check")
    op.create_check_constraint(
        op.f("ck_audit_log_action_valid"),
        "audit_log",
        f"action IN ({', '.join(repr(a) for a in actions)})",
    )


def upgrade() -> None:
    _check(AFTER)


def downgrade() -> None:
    # Entries already written as `pause` become `update` (the action they stand for).
    op.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    op.execute("UPDATE audit_log SET action = 'update' WHERE action = 'pause'")
    op.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    _check(BEFORE)
