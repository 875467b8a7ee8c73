"""How several changes of one entity in one unit of work fold into one audit entry."""

from __future__ import annotations

from backend.repositories.audit import AuditEntry


def entry(action: str, **changes: list[object]) -> AuditEntry:
    return AuditEntry(
        action=action, entity_type="team", entity_id="1", tenant_id=None, changes=dict(changes)
    )


def test_create_then_update_stays_a_create_with_final_values() -> None:
    first = entry("create", name=[None, "A"])
    first.merge(entry("update", name=["A", "B"], league=[None, "EPL"]))
    assert first.action == "create"
    assert first.changes == {"name": [None, "B"], "league": [None, "EPL"]}


def test_two_updates_keep_first_old_and_last_new() -> None:
    first = entry("update", bankroll=["100.00", "90.00"])
    first.merge(entry("update", bankroll=["90.00", "80.00"]))
    assert first.changes == {"bankroll": ["100.00", "80.00"]}


def test_update_undone_in_the_same_unit_is_no_entry() -> None:
    first = entry("update", name=["A", "B"])
    first.merge(entry("update", name=["B", "A"]))
    assert first.empty


def test_named_action_wins_over_plain_update() -> None:
    first = entry("update", bankroll=["10.00", "20.00"])
    first.merge(entry("kill", status=["active", "killed"]))
    assert first.action == "kill"
    assert first.changes == {"bankroll": ["10.00", "20.00"], "status": ["active", "killed"]}
