"""Readable views of complaints for the command line (`show`, `list`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from maildesk.desk import Desk

OPEN = ("received", "acknowledged", "in_process", "incomplete_info", "transferred")


def show_complaint(desk: Desk, code: str) -> str | None:
    complaint = desk.store.complaint_by_code(code)
    if complaint is None:
        return None
    local = desk.local_time
    lines = [
        f"{complaint['code']}  {complaint['urgency'].replace('_', '-')}  {complaint['status']}",
        f"station:   {complaint['station']}",
        f"resident:  {complaint['resident_name'] or ''} <{complaint['resident_addr']}>",
        f"subject:   {complaint['subject']}",
        f"received:  {local(datetime.fromisoformat(complaint['created_at']))}",
    ]
    for name in ("acknowledged_at", "first_action_at", "closed_at"):
        if complaint[name]:
            label = name.removesuffix("_at").replace("_", " ") + ":"
            lines.append(f"{label:<11}{local(datetime.fromisoformat(complaint[name]))}")
    if complaint["assigned_to"]:
        lines.append(f"assigned:  {complaint['assigned_to']}")
    lines.append("why:       " + "; ".join(complaint["reasons"] or []))
    lines.append("\nmessages:")
    for message in desk.store.complaint_messages(complaint["id"]):
        when = local(datetime.fromisoformat(message["received_at"]))
        lines.append(f"  {when}  {message['kind']:<9} {message['from_addr']}: "
                     f"{message['subject']}")
        for attachment in desk.store.attachments(message["id"]):
            lines.append(f"      attachment {attachment['filename']} "
                         f"({attachment['content_type']}, {attachment['size']} bytes)")
    lines.append("\nevents:")
    for event in desk.store.events(complaint["id"]):
        when = local(datetime.fromisoformat(event["at"]))
        detail = "; ".join(f"{k}: {v}" for k, v in event["detail"].items() if v)
        lines.append(f"  {when}  {event['actor']}: {event['action']}"
                     + (f" ({detail})" if detail else ""))
    lines.append("\nmail sent:")
    for row in desk.store.outbox("complaint_id = ?", (complaint["id"],)):
        lines.append(f"  {row['kind']:<16} to {', '.join(row['rcpt_to'])}: {row['status']}")
    return "\n".join(lines)


def list_complaints(desk: Desk, station: str | None, status: str | None,
                    urgency: str | None, overdue: bool, limit: int) -> list[str]:
    where, params = ["1"], []
    if station:
        where.append("station = ?")
        params.append(station.upper())
    if status == "open":
        where.append(f"status IN ({', '.join('?' for _ in OPEN)})")
        params.extend(OPEN)
    elif status:
        where.append("status = ?")
        params.append(status)
    if urgency:
        where.append("urgency = ?")
        params.append(urgency.replace("-", "_"))
    rows = desk.store.complaints(" AND ".join(where), tuple(params), limit=limit)
    if overdue:
        rows = [r for r in rows if _overdue(desk, r)]
    return [f"{r['code']:<15} {r['urgency'].replace('_', '-'):<11} {r['status']:<15} "
            f"{desk.local_time(datetime.fromisoformat(r['created_at']))}  {r['subject'][:50]}"
            for r in rows]


def _overdue(desk: Desk, complaint: dict) -> bool:
    """Past its first-action or closure deadline (service levels from the configuration)."""
    if complaint["status"] not in OPEN:
        return False
    level = desk.config.service_levels[complaint["urgency"]]
    created = datetime.fromisoformat(complaint["created_at"])
    now = desk.clock.now()
    if complaint["first_action_at"] is None and now > created + level.first_action:
        return True
    return now > created + level.closure


def desk_status(desk: Desk) -> list[str]:
    """What an administrator checks first: is every mailbox read, is mail going out."""
    health = {row["station"]: row for row in desk.store.mailbox_health()}
    lines = [f"{'station':<8} {'last visit':<24} {'last mail':<24} state"]
    for station in desk.config.stations:
        row = health.get(station.code)
        if row is None:
            lines.append(f"{station.code:<8} {'never':<24} {'-':<24} not visited yet")
            continue
        last = desk.local_time(datetime.fromisoformat(row["last_poll_at"]))
        mail = (desk.local_time(datetime.fromisoformat(row["last_mail_at"]))
                if row["last_mail_at"] else "-")
        state = "ok" if not row["last_error"] else (
            f"FAILING x{row['failures']}: {row['last_error']}")
        lines.append(f"{station.code:<8} {last:<24} {mail:<24} {state}")
    counts = desk.store.outbox_counts()
    oldest = desk.store.oldest_waiting()
    backlog = f"outbox: {counts.get('pending', 0)} waiting, {counts.get('sent', 0)} sent, " \
              f"{counts.get('failed', 0)} failed"
    if oldest:
        backlog += f"; oldest waiting since {desk.local_time(datetime.fromisoformat(oldest))}"
    lines += ["", backlog]
    incidents = desk.store.all_open_incidents()
    for incident in incidents:
        lines.append(f"incident: {incident['station']} {incident['kind']} since "
                     f"{desk.local_time(datetime.fromisoformat(incident['started_at']))}")
    errors = desk.store.outbox_errors(5)
    shunted = desk.store.shunted(20)
    if errors or shunted:
        lines.append("\nrecent errors:")
    for row in errors:
        lines.append(f"  outbox {row['kind']}: {row['last_error']}")
    for row in shunted:
        lines.append(f"  {row['station']} mail {row['id']} set aside: {row['reason']} "
                     f"(`maildesk replay {row['id']}` after a fix)")
    return lines


# Mail that failed for good in this window makes `status` unhealthy; older failures are
# history (they stay listed under "recent errors").
FAILED_MAIL_WINDOW = timedelta(hours=24)


def desk_problems(desk: Desk) -> list[str]:
    """What makes the desk unhealthy for monitoring: an empty list when all is well."""
    problems = []
    health = {row["station"]: row for row in desk.store.mailbox_health()}
    for station in desk.config.stations:
        row = health.get(station.code)
        if row is not None and row["last_error"]:
            problems.append(f"station {station.code}: mailbox failing x{row['failures']}: "
                            f"{row['last_error']}")
    for incident in desk.store.unrecovered_incidents():
        problems.append(f"station {incident['station']}: incident {incident['kind']}")
    retrying = desk.store.outbox_retrying()
    if retrying:
        problems.append(f"outbox: {retrying} mails waiting to retry after an error")
    since = desk.clock.now() - FAILED_MAIL_WINDOW
    failed = desk.store.outbox_failed_since(since)
    if failed:
        problems.append(f"outbox: {failed} mails failed in the last 24 hours")
    return problems


def overrides(desk: Desk, limit: int) -> list[str]:
    """Officers' re-classifications, with the phrases that had decided the first urgency:
    the material for tuning config/rules.yaml."""
    rows = desk.store.reclassifications(limit)
    lines = []
    for row in rows:
        detail = json.loads(row["detail"] or "{}")
        when = desk.local_time(datetime.fromisoformat(row["at"]))
        lines.append(f"{row['code']}  {detail.get('from', '?')} -> {detail.get('to', '?')}  "
                     f"by {row['actor']}, {when}" + (f": {detail['why']}"
                                                     if detail.get("why") else ""))
        for reason in detail.get("reasons") or ["(no phrase had matched)"]:
            lines.append(f"    {reason}")
    return lines
