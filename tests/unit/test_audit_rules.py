"""One rule for what an audit entry records, shared by the flush hooks and the set-based
writers (placing a bet, settlement): every column but those describing the change itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from backend.models.base import AUDIT_IGNORED_FIELDS
from backend.models.trading import Bet, Strategy
from backend.repositories.audit import (
    audited_changes,
    audited_columns,
    audited_snapshot,
    audited_values,
)


def test_audited_columns_are_the_tables_columns_but_the_change_describing_ones() -> None:
    expected = [c.key for c in Bet.__table__.c if c.key not in AUDIT_IGNORED_FIELDS]
    assert list(audited_columns(Bet)) == expected
    assert "updated_by" not in audited_columns(Strategy)
    assert "version" not in audited_columns(Strategy)


def test_created_values_skip_nulls_and_keys_that_are_no_column() -> None:
    bet_id = uuid.uuid4()
    values = {"id": bet_id, "stake": Decimal("10.00"), "pnl": None, "created_by": "k", "x": 1}
    assert audited_values(Bet, values) == {"id": [None, str(bet_id)], "stake": [None, "10.00"]}


def test_changes_keep_only_what_differs_as_json() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    old = {"status": "open", "bankroll": Decimal("1")}
    new = {"status": "won", "settled_at": at, "closing_price": None, "updated_by": "k"}
    assert audited_changes(Bet, old, new) == {
        "status": ["open", "won"],
        "settled_at": [None, "2030-01-02T03:04:05Z"],
    }
    assert audited_changes(Strategy, {"bankroll": Decimal("1")}, {"bankroll": Decimal("1")}) == {}


def test_a_snapshot_has_every_audited_column() -> None:
    snapshot = audited_snapshot(Strategy, {"name": "s", "version": 3})
    assert list(snapshot) == list(audited_columns(Strategy))
    assert snapshot["name"] == ["s", None]
