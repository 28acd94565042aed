"""Readable views of complaints for the command line (`show`, `list`)."""

from __future__ import annotations

from datetime import datetime

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
