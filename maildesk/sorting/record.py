"""Stage: record what a mail means — the message row, its attachments, the complaint and its
events, and the outgoing mail it causes — all inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from maildesk.config.settings import Station
from maildesk.desk import Desk
from maildesk.mail.outgoing import (
    history_of,
    queue_ack,
    queue_admins,
    queue_no_reply,
    queue_notify,
    queue_officer_reply,
    queue_officers,
    queue_oversize,
    queue_resident,
    queue_status,
)
from maildesk.mail.parse import ParsedMail
from maildesk.mail.patterns import own_kind, own_message_ids
from maildesk.officer.actions import Acting, note
from maildesk.officer.auth import may_act
from maildesk.officer.commands import read_reply
from maildesk.officer.registry import carry_out
from maildesk.sorting.rules import Sorted, typed
from maildesk.sweeps.sla import resume
from maildesk.triage.classify import Classification


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
    if not is_silent(decision.kind):
        for attachment in mail.attachments:
            desk.store.save_blob(attachment.data, attachment.sha256)
            desk.store.add_attachment(row, attachment.filename, attachment.content_type,
                                      attachment.size, attachment.sha256)
    return row


def record_new(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
               verdict: Classification | None) -> Recorded:
    assert verdict is not None, "a new complaint is classified before it is recorded"
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
    _note_named_code(desk, decision, complaint, mail, row)
    level = desk.config.service_levels[verdict.urgency]
    if not mail.from_addr:
        # No sender address survived parsing (a crafted From): the complaint stands.
        queue_no_reply(desk, station, complaint, "ack", ["(no usable address)"],
                       "the mail has no sender address a reply could go to")
    elif not decision.quiet:
        queue_ack(desk, station, complaint, mail, next_step_by=now + level.first_action)
    if decision.kind == "oversize":  # recorded whole; the officers get the text, not the files
        if not decision.quiet:
            queue_oversize(desk, station, mail, item.size, complaint)
        queue_notify(desk, station, complaint, mail, with_attachments=False)
    else:
        queue_notify(desk, station, complaint, mail)
    return Recorded(decision.kind, row, code)


def _note_named_code(desk: Desk, decision: Sorted, complaint: dict, mail: ParsedMail,
                     row: int) -> None:
    """A stranger's mail naming someone else's code is a complaint of its own (they learn
    nothing about the other); the other complaint's trail says it was named."""
    named = desk.store.complaint_by_code(decision.code) if decision.code else None
    if named is not None and named["id"] != complaint["id"]:
        desk.store.add_event(named["id"], mail.from_addr or "unknown sender",
                             "named_by_other", {"in": complaint["code"]}, row)


def record_followup(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
                    verdict: Classification | None = None) -> Recorded:
    """A resident adds to a complaint. Only the filer's reply moves it on: an answer to an
    information request puts it back in process, a reply to the closure reopens it."""
    complaint = decision.complaint
    assert complaint is not None
    store = desk.store
    row = _message_row(desk, item, mail, decision, complaint["id"])
    station = desk.station(complaint["station"])
    from_filer = mail.from_addr == complaint["resident_addr"]
    sender = mail.from_addr or "unknown sender"
    if from_filer and complaint["status"] == "closed":
        # Reopened: the station owes a fresh first action, on a fresh clock.
        store.set_complaint(complaint["id"], status="in_process", closed_at=None,
                            clock_start=store.now(), first_action_at=None)
        store.add_event(complaint["id"], sender, "reopened", {"matched": decision.reason}, row)
        queue_officers(desk, station, complaint, "reopened_notify", mail,
                       with_attachments=not decision.oversize)
        if not decision.quiet:
            queue_resident(desk, station, complaint, "reopened", {})
    elif from_filer and complaint["status"] == "incomplete_info":
        store.set_complaint(complaint["id"], status="in_process",
                            **resume(complaint, desk.clock.now()))
        store.add_event(complaint["id"], sender, "info_received",
                        {"matched": decision.reason}, row)
        queue_officers(desk, station, complaint, "info_received_notify", mail,
                       with_attachments=not decision.oversize)
    else:
        store.add_event(complaint["id"], sender,
                        "resident_followup" if from_filer else "third_party_message",
                        {"matched": decision.reason}, row)
        queue_notify(desk, station, complaint, mail, template="followup_notify",
                     history=history_of(desk, complaint),
                     with_attachments=not decision.oversize)
    if decision.oversize and not decision.quiet:
        # Stored whole; the officers get the text, not the files; the sender is told.
        queue_oversize(desk, station, mail, item.size, complaint)
    return Recorded("followup", row, complaint["code"])


REFUSALS_BEFORE_ALERT = 3
# The steps a resident sees in a status answer; internal notes, assignments, alerts and
# refusals stay inside the station.
SHOWN_TO_FILER = ("received", "acknowledged", "progress", "incomplete", "info_received",
                  "closed", "reopened", "transferred", "forwarded", "duplicate")


def record_officer(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
                   verdict: Classification | None = None) -> Recorded:
    """An officer's reply: check they may act on that complaint, then carry out the commands
    and confirm; anything refused or not understood gets a help reply, never silence."""
    complaint = decision.complaint
    store = desk.store
    row = _message_row(desk, item, mail, decision, complaint["id"] if complaint else None)
    if decision.quiet:
        # A reply to our own confirmation or help: acted on, never answered (loops).
        return _record_officer_quietly(desk, item, mail, decision, row)
    if complaint is None:
        queue_officer_reply(desk, item.station, None, mail, "help", {
            "reason": "which complaint? Reply to its notification mail, or keep its code "
                      "(like BHL-2611-0007) in the subject", "problems": []})
        return Recorded("officer", row)
    station = desk.station(complaint["station"])
    allowed, why = may_act(mail, station, desk.config)
    if not allowed:
        store.set_message(row, kind="refused", reason=why)
        store.add_event(complaint["id"], mail.from_addr, "refused", {"why": why}, row)
        queue_officer_reply(desk, item.station, complaint, mail, "help",
                            {"reason": f"nothing was changed: {why}", "problems": []})
        _alert_on_repeated_refusals(desk, item, mail, why)
        return Recorded("refused", row, complaint["code"])
    parsed = read_reply(typed(mail, desk.store), mail.text, mail.from_html)
    acting = Acting(desk, complaint, station, mail.from_addr, row)
    if not parsed.commands and not parsed.problems:
        done, problems = [note(acting, parsed.note)] if parsed.note.strip() else [], []
    else:
        done, problems = carry_out(acting, parsed.commands)
        problems = [*parsed.problems, *problems]
    complaint = acting.complaint
    if done:
        queue_officer_reply(desk, station, complaint, mail, "confirm", {
            "officer": mail.from_addr, "done": done, "problems": problems,
            "status": complaint["status"], "urgency": complaint["urgency"]})
    else:
        queue_officer_reply(desk, station, complaint, mail, "help", {
            "reason": "nothing was changed: no command was understood", "problems": problems})
    return Recorded("officer", row, complaint["code"])


def _record_officer_quietly(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
                            row: int) -> Recorded:
    complaint = decision.complaint
    store = desk.store
    store.set_message(row, reason=f"{decision.reason}; {decision.quiet}: not answered")
    if complaint is None:
        return Recorded("officer", row)
    station = desk.station(complaint["station"])
    allowed, why = may_act(mail, station, desk.config)
    if not allowed:
        store.set_message(row, kind="refused", reason=why)
        store.add_event(complaint["id"], mail.from_addr, "refused", {"why": why}, row)
        return Recorded("refused", row, complaint["code"])
    parsed = read_reply(typed(mail, desk.store), mail.text, mail.from_html)
    acting = Acting(desk, complaint, station, mail.from_addr, row)
    if parsed.commands:
        carry_out(acting, parsed.commands)
    elif parsed.note.strip():
        note(acting, parsed.note)
    return Recorded("officer", row, acting.complaint["code"])


def _alert_on_repeated_refusals(desk: Desk, item: Incoming, mail: ParsedMail, why: str) -> None:
    """Tell the administrators once a day when someone keeps trying to act without right."""
    since = desk.clock.now() - timedelta(days=1)
    reasons = desk.store.refusals_since(mail.from_addr, since)
    if len(reasons) == REFUSALS_BEFORE_ALERT:
        queue_admins(desk, item.station, "admin_refusals", {
            "station": item.station.code, "address": mail.from_addr, "count": len(reasons),
            "reasons": sorted(set(reasons)), "since": desk.local_time(since)})


def record_status(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
                  verdict: Classification | None = None) -> Recorded:
    complaint = decision.complaint
    if complaint is None and decision.code:
        complaint = desk.store.complaint_by_code(decision.code)
    row = _message_row(desk, item, mail, decision, complaint["id"] if complaint else None)
    history = []
    if complaint is not None:
        desk.store.add_event(complaint["id"], mail.from_addr, "status_requested", {}, row)
        history = [{"at": desk.local_time(datetime.fromisoformat(e["at"])), "what": e["action"]}
                   for e in desk.store.events(complaint["id"]) if e["action"] in SHOWN_TO_FILER]
    if not decision.quiet:
        queue_status(desk, item.station, complaint, mail, history)
        if decision.oversize:
            queue_oversize(desk, item.station, mail, item.size, complaint)
    return Recorded("status", row, complaint["code"] if complaint else None)


def record_other(desk: Desk, item: Incoming, mail: ParsedMail, decision: Sorted,
                 verdict: Classification | None = None) -> Recorded:
    """Mail that starts nothing: recorded for the audit trail, never answered."""
    complaint = decision.complaint
    row = _message_row(desk, item, mail, decision, complaint["id"] if complaint else None)
    if decision.kind == "bounce":
        _believe_bounce(desk, item, mail, row)
    return Recorded(decision.kind, row, complaint["code"] if complaint else None)


def _believe_bounce(desk: Desk, item: Incoming, mail: ParsedMail, row: int) -> None:
    """Anyone can write a bounce. One is believed only when it returns a mail the desk sent
    (its Message-ID, random, quoted in the bounce or its threading headers), and only for
    the recipients of that mail; never for an officer, a DCP or an admin, whose alerts
    must not be silenced."""
    domain = desk.config.message_domain
    # The returned headers stand in the raw mail, or in an encoded part of it.
    texts = [desk.store.read_raw(item.sha256).decode("latin-1"), mail.text,
             *(a.data.decode("latin-1") for a in mail.attachments)]
    ids = own_message_ids("\n".join(texts), domain)
    ids += [i for i in (*mail.in_reply_to, *mail.references)
            if own_kind(i, domain) and i not in ids]
    sent = desk.store.sent_to(ids)
    recipients = {address.lower() for rcpts in sent.values() for address in rcpts}
    ours = desk.config.known_addresses()
    believed = [a for a in mail.failed_recipients if a in recipients and a not in ours]
    for address in believed:
        desk.store.mark_undeliverable(address, f"bounce in message {row}")
    if mail.failed_recipients and not believed:
        desk.store.set_message(row, reason="a bounce that returns no mail the desk sent to "
                                           "those addresses: not believed")


Recorder = Callable[[Desk, Incoming, ParsedMail, Sorted, Classification | None], Recorded]
# The kinds of mail that are answered, each with its recorder; this table is the one place
# that says so. Every other kind (see sorting.rules.KINDS) is recorded and never answered.
ANSWERED: dict[str, Recorder] = {
    "new": record_new,
    "oversize": record_new,  # recorded whole; may still be an emergency
    "followup": record_followup,
    "status": record_status,
    "officer": record_officer,
}


def recorder_for(kind: str) -> Recorder:
    return ANSWERED.get(kind, record_other)


def starts_complaint(kind: str) -> bool:
    return ANSWERED.get(kind) is record_new


def is_silent(kind: str) -> bool:
    """Never answered, and attachments not kept apart from the raw mail."""
    return kind not in ANSWERED
