"""Stage: record what a mail means — the message row, its attachments, the complaint and its
events, and the outgoing mail it causes — all inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from maildesk.classify import Classification
from maildesk.config import Station
from maildesk.desk import Desk
from maildesk.outgoing import queue_ack, queue_notify, queue_oversize, queue_status
from maildesk.parse import ParsedMail
from maildesk.sort import Sorted

# Mails we never answer and whose attachments are not worth keeping apart from the raw mail.
SILENT = ("unreadable", "own", "bounce", "autoreply", "list", "rate_limited")


@dataclass(frozen=True)
class Incoming:
    """A mail as it arrived: where from, its stored bytes' hash and size."""

    station: Station
    sha256: str
    size: int
    dedupe_key: str
    uid: int | None = None
    uidvalidity: int | None = None


@dataclass(frozen=True)
class Recorded:
    kind: str
    message_row: int
    code: str | None = None
    duplicate: bool = False


def _message_row(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
                 complaint_id: int | None) -> int:
    row = desk.store.add_message(
        station=item.station.code, dedupe_key=item.dedupe_key, sha256=item.sha256,
        size=item.size, message_id=mail.message_id, uidvalidity=item.uidvalidity,
        uid=item.uid, from_addr=mail.from_addr, from_name=mail.from_name,
        subject=mail.subject, language=mail.language, text=mail.text, kind=decision.kind,
        reason=decision.reason, complaint_id=complaint_id, parse_error=mail.error,
    )
    if decision.kind not in SILENT:
        for attachment in mail.attachments:
            desk.store.save_blob(attachment.data, attachment.sha256)
            desk.store.add_attachment(row, attachment.filename, attachment.content_type,
                                      attachment.size, attachment.sha256)
    return row


def record_new(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
               verdict: Classification) -> Recorded:
    station, store, now = item.station, desk.store, desk.clock.now()
    code = store.next_code(station.code, now.astimezone(desk.config.timezone))
    complaint_id = store.add_complaint(
        code=code, station=station.code, status="received", urgency=verdict.urgency,
        score=verdict.score, reasons=verdict.reasons, resident_addr=mail.from_addr,
        resident_name=mail.from_name, language=mail.language, subject=mail.subject,
    )
    row = _message_row(desk, item, mail, decision, complaint_id)
    store.add_event(complaint_id, mail.from_addr or "unknown sender", "received",
                    {"urgency": verdict.urgency, "reasons": list(verdict.reasons)}, row)
    complaint = store.complaint(complaint_id)
    assert complaint is not None
    level = desk.config.service_levels[verdict.urgency]
    queue_ack(desk, station, complaint, mail, next_step_by=now + level.first_action)
    queue_notify(desk, station, complaint, mail)
    return Recorded("new", row, code)


def record_followup(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted) -> Recorded:
    complaint = decision.complaint
    assert complaint is not None
    row = _message_row(desk, item, mail, decision, complaint["id"])
    from_filer = mail.from_addr == complaint["resident_addr"]
    desk.store.add_event(complaint["id"], mail.from_addr or "unknown sender",
                         "resident_followup" if from_filer else "third_party_message",
                         {"matched": decision.reason}, row)
    station = desk.station(complaint["station"])
    queue_notify(desk, station, complaint, mail, template="followup_notify")
    return Recorded("followup", row, complaint["code"])


def record_status(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted) -> Recorded:
    complaint = decision.complaint
    if complaint is None and decision.code:
        complaint = desk.store.complaint_by_code(decision.code)
    row = _message_row(desk, item, mail, decision, complaint["id"] if complaint else None)
    history = []
    if complaint is not None:
        desk.store.add_event(complaint["id"], mail.from_addr, "status_requested", {}, row)
        history = [{"at": desk.local_time(datetime.fromisoformat(e["at"])), "what": e["action"]}
                   for e in desk.store.events(complaint["id"])]
    queue_status(desk, item.station, complaint, mail, history)
    return Recorded("status", row, complaint["code"] if complaint else None)


def record_other(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted) -> Recorded:
    """Mail that starts nothing: recorded for the audit trail, answered only if oversize."""
    complaint = decision.complaint
    row = _message_row(desk, item, mail, decision, complaint["id"] if complaint else None)
    if decision.kind == "bounce":
        for address in mail.failed_recipients:
            desk.store.mark_undeliverable(address, f"bounce in message {row}")
    elif decision.kind == "oversize":
        queue_oversize(desk, item.station, mail, item.size)
    elif decision.kind == "officer" and complaint is not None:
        desk.store.add_event(complaint["id"], mail.from_addr, "officer_mail", {}, row)
    return Recorded(decision.kind, row, complaint["code"] if complaint else None)
