"""Deadlines: from arrival, restarted by a transfer, stopped while waiting on the resident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from maildesk.config.settings import DEFAULT_SERVICE_LEVELS as LEVELS
from maildesk.sweeps.sla import deadlines, pause, resume, what_is_late

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def complaint(**fields) -> dict:
    base = {"urgency": "urgent", "status": "acknowledged", "created_at": T0.isoformat(),
            "clock_start": T0.isoformat(), "paused_seconds": 0, "paused_since": None,
            "acknowledged_at": T0.isoformat(), "first_action_at": None}
    return {**base, **fields}


def test_deadlines_follow_the_urgency():
    urgent = deadlines(complaint(), LEVELS, T0)
    routine = deadlines(complaint(urgency="non_urgent"), LEVELS, T0)
    assert urgent.first_action == T0 + timedelta(minutes=30)
    assert routine.first_action == T0 + timedelta(days=2)
    assert urgent.closure == T0 + timedelta(days=1)


def test_nothing_is_late_while_waiting_on_the_resident():
    waiting = complaint(status="incomplete_info", **pause(T0.isoformat()))
    later = T0 + timedelta(days=5)
    assert what_is_late(waiting, LEVELS, later) == []
    # Five days of waiting are added when the resident answers.
    answered = {**waiting, **resume(waiting, later)}
    assert answered["paused_seconds"] == 5 * 86400
    due = deadlines(answered, LEVELS, later)
    assert due.first_action == T0 + timedelta(days=5, minutes=30)
    assert what_is_late(answered, LEVELS, later + timedelta(minutes=31)) == ["no officer action"]


def test_a_transfer_gives_the_new_station_its_full_time():
    moved = complaint(clock_start=(T0 + timedelta(hours=3)).isoformat())
    assert deadlines(moved, LEVELS, T0).first_action == T0 + timedelta(hours=3, minutes=30)


def test_what_is_late_in_words():
    late = T0 + timedelta(days=2)
    assert what_is_late(complaint(), LEVELS, late) == ["no officer action", "not closed"]
    assert what_is_late(complaint(acknowledged_at=None), LEVELS, late)[0] == "not acknowledged"
    acted = complaint(first_action_at=T0.isoformat())
    assert what_is_late(acted, LEVELS, late) == ["not closed"]
    assert what_is_late(complaint(status="closed"), LEVELS, late) == []
