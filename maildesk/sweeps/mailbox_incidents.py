"""Mailbox health: intake must never stop quietly.

A station mailbox that cannot be reached for longer than `unreachable_after`, or that has
received nothing for longer than `silent_after`, is an incident: the administrators and the
zone's DCP are told once when it starts and once when it ends. Incidents are keyed by station
and the moment they began, so a restart never repeats an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from maildesk.clock import from_iso_or_none
from maildesk.config.settings import Station
from maildesk.desk import Desk
from maildesk.mail.oauth import read_state
from maildesk.mail.outgoing import queue_station_alert


@dataclass
class HealthResult:
    alerts: list[str] = field(default_factory=list)

def _sends(station: Station) -> bool:
    """False when the station's SMTP sign-in renewal is failing."""
    oauth = station.smtp.oauth
    return oauth is None or "failed_since" not in read_state(oauth.store)


def check_signins(desk: Desk, result: HealthResult) -> None:
    """An OAuth2 renewal that failed is an incident at once: nothing will be read or sent
    for that login until an administrator issues a new refresh token. A station that
    cannot send has its alert sent through another station that can."""
    store = desk.store
    for station in desk.config.stations:
        via = station if _sends(station) else next(
            (s for s in desk.config.stations if _sends(s)), station)
        to = list(desk.config.admins)
        for service, server in (("IMAP", station.imap), ("SMTP", station.smtp)):
            if server.oauth is None or not to:
                continue
            state = read_state(server.oauth.store)
            kind = f"signin_{service.lower()}"
            failed = state.get("failed_since")
            started = (datetime.fromtimestamp(failed, UTC).isoformat(timespec="seconds")
                       if failed else "")
            if failed:
                key = f"{station.code}:{kind}:{started}"
                with store.transaction():
                    if store.open_incident(key, station.code, kind, started):
                        queue_station_alert(desk, station, "mailbox_signin", to, {
                            "service": service, "error": state.get("last_error", ""),
                            "since": desk.local_time(datetime.fromisoformat(started))}, via)
                        result.alerts.append(key)
            for incident in store.open_incidents(station.code, kind):
                if incident["started_at"] == started:
                    continue  # still failing
                with store.transaction():
                    if store.close_incident(incident["key"]):
                        queue_station_alert(desk, station, "mailbox_recovered", to, {
                            "problem": f"{service} sign-in renewal", "since": desk.local_time(
                                datetime.fromisoformat(incident["started_at"]))}, via)
                        result.alerts.append(f"{incident['key']}:recovered")


def check_mailboxes(desk: Desk) -> HealthResult:
    result = HealthResult()
    check_signins(desk, result)
    now, config, store = desk.clock.now(), desk.config, desk.store
    health = {row["station"]: row for row in store.mailbox_health()}
    for station in config.stations:
        row = health.get(station.code)
        if row is None:
            continue  # never polled yet
        to = [*config.admins, *config.zone(station.zone).dcp]
        down_since = from_iso_or_none(row["failing_since"])
        failing = down_since is not None
        for kind, bad, since, limit in (
            ("unreachable", failing, down_since, config.unreachable_after),
            ("silent", not failing and row["last_mail_at"] is not None,
             from_iso_or_none(row["last_mail_at"]), config.silent_after),
        ):
            started = since.isoformat() if since else ""
            if bad and since is not None and now - since >= limit:
                key = f"{station.code}:{kind}:{started}"
                with store.transaction():
                    if store.open_incident(key, station.code, kind, started):
                        queue_station_alert(desk, station, f"mailbox_{kind}", to, {
                            "since": desk.local_time(since), "error": row["last_error"] or "",
                            "for": str(now - since).split(".")[0]})
                        result.alerts.append(key)
            for incident in store.open_incidents(station.code, kind):
                if incident["started_at"] == started and bad:
                    continue  # still going on
                with store.transaction():
                    if store.close_incident(incident["key"]):
                        queue_station_alert(desk, station, "mailbox_recovered", to, {
                            "problem": kind, "since": desk.local_time(
                                datetime.fromisoformat(incident["started_at"]))})
                        result.alerts.append(f"{incident['key']}:recovered")
    return result
