"""The escalation sweep: find what is late and tell the right people, each alert once.

Tiers, for an open complaint with no officer action by its first-action deadline:
  1. `officers`  — the station's officers are reminded at the deadline;
  2. `dcp`       — the zone's DCP is alerted `dcp_after` later (at once for urgent ones);
  3. `reminderN` — then every `remind_every`, the DCP and the officers again, until someone acts.
Also: `closure` (the closure deadline passed: the officers are reminded) and `ack` (the
acknowledgement could not be sent within its hour: the administrators are told).

Every alert has a key (complaint, tier, the deadline it is about). It is inserted together
with the queued mail in one transaction, and a key that exists is never sent again: not after
a restart, not by two overlapping sweeps, not when the clock is changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from maildesk.clock import Clock, to_iso
from maildesk.config.settings import Config
from maildesk.desk import Desk
from maildesk.mail.outgoing import queue_alert
from maildesk.mail.send import SendResult, drain_outbox
from maildesk.sweeps.mailbox_incidents import HealthResult, check_mailboxes
from maildesk.sweeps.sla import OPEN, deadlines

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    looked_at: int = 0
    sent: list[str] = field(default_factory=list)  # keys of the alerts sent by this sweep


def _fire(desk: Desk, complaint: dict, tier: str, due: datetime, template: str,
          to: list[str], result: SweepResult) -> None:
    key = f"{complaint['id']}:{tier}:{to_iso(due)}"
    store = desk.store
    with store.transaction():
        if not store.claim_escalation(key, complaint["id"], tier, to_iso(due)):
            return  # sent before: by an earlier sweep, or by one running alongside
        station = desk.station(complaint["station"])
        outbox = queue_alert(desk, station, complaint, template, to, tier, due)
        store.set_escalation_outbox(key, json.dumps([outbox] if outbox else []))
        store.add_event(complaint["id"], "maildesk", "escalated",
                        {"tier": tier, "to": to, "due": to_iso(due)})
    result.sent.append(key)
    log.info("escalation %s: %s (%s)", complaint["code"], tier, ", ".join(to))


def sweep(desk: Desk) -> SweepResult:
    result = SweepResult()
    now = desk.clock.now()
    config = desk.config
    marks = ", ".join("?" for _ in OPEN)
    for complaint in desk.store.complaints(f"status IN ({marks})", OPEN, limit=1_000_000):
        result.looked_at += 1
        try:
            station = config.station(complaint["station"])
        except KeyError:
            continue  # a station removed from the configuration: its complaints stay listed
        level = config.service_levels[complaint["urgency"]]
        due = deadlines(complaint, config.service_levels, now)
        officers = [o.address for o in station.officers]
        dcp = list(config.zone(station.zone).dcp)
        if complaint["acknowledged_at"] is None and now >= due.acknowledge:
            _fire(desk, complaint, "ack", due.acknowledge, "alert_ack_late",
                  list(config.admins), result)
        if due.paused:
            continue
        if complaint["first_action_at"] is None and now >= due.first_action:
            _fire(desk, complaint, "officers", due.first_action, "remind_officers", officers,
                  result)
            dcp_at = due.first_action + level.dcp_after
            if now >= dcp_at:
                _fire(desk, complaint, "dcp", due.first_action, "alert_dcp", dcp, result)
                reminders = int((now - dcp_at) / level.remind_every)
                if reminders >= 1:  # only the latest: a sweep after a long stop sends one
                    _fire(desk, complaint, f"reminder{reminders}", due.first_action,
                          "alert_reminder", dcp + officers, result)
        elif now >= due.closure:
            _fire(desk, complaint, "closure", due.closure, "remind_closure", officers, result)
    return result


async def escalate_once(config: Config, clock: Clock | None = None) -> tuple[
        SweepResult, HealthResult, SendResult]:
    """`maildesk escalate --once`: one sweep, one mailbox health check, one outbox drain."""
    desk = Desk.open(config, clock, intake=True)
    try:
        return sweep(desk), check_mailboxes(desk), await drain_outbox(desk)
    finally:
        desk.close()
