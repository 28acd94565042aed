"""Service levels: the deadlines of a complaint.

The clock starts when the complaint arrives and starts again when it is transferred (the new
station gets its full time); time spent waiting on the resident (incomplete_info) does not
count against the station. Deadlines follow the complaint's current urgency, so a
re-classification moves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from maildesk.clock import from_iso_or_none
from maildesk.config.settings import ServiceLevel

OPEN = ("received", "acknowledged", "in_process", "incomplete_info", "transferred")


@dataclass(frozen=True)
class Deadlines:
    acknowledge: datetime
    first_action: datetime
    closure: datetime
    paused: bool  # waiting on the resident: nothing is late meanwhile



def deadlines(complaint: dict, levels: dict[str, ServiceLevel], now: datetime) -> Deadlines:
    level = levels[complaint["urgency"]]
    created = from_iso_or_none(complaint["created_at"])
    start = from_iso_or_none(complaint.get("clock_start")) or created
    assert created is not None and start is not None
    paused_since = from_iso_or_none(complaint.get("paused_since"))
    waited = timedelta(seconds=complaint.get("paused_seconds") or 0)
    if paused_since is not None:
        waited += max(now - paused_since, timedelta(0))
    return Deadlines(
        acknowledge=created + level.acknowledge,
        first_action=start + level.first_action + waited,
        closure=start + level.closure + waited,
        paused=paused_since is not None,
    )


def what_is_late(complaint: dict, levels: dict[str, ServiceLevel], now: datetime) -> list[str]:
    """Plain words for each deadline an open complaint has missed."""
    if complaint["status"] not in OPEN:
        return []
    due = deadlines(complaint, levels, now)
    late = []
    if complaint.get("acknowledged_at") is None and now > due.acknowledge:
        late.append("not acknowledged")
    if due.paused:
        return late
    if complaint.get("first_action_at") is None and now > due.first_action:
        late.append("no officer action")
    if now > due.closure:
        late.append("not closed")
    return late


def pause(now_iso: str) -> dict:
    """Fields that stop the clock (the station waits on the resident)."""
    return {"paused_since": now_iso}


def resume(complaint: dict, now: datetime) -> dict:
    """Fields that restart the clock, adding the wait to the paused time."""
    since = from_iso_or_none(complaint.get("paused_since"))
    if since is None:
        return {}
    waited = int(max(now - since, timedelta(0)).total_seconds())
    return {"paused_since": None,
            "paused_seconds": (complaint.get("paused_seconds") or 0) + waited}
