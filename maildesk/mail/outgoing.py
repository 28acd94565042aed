"""Stage: queue outgoing mail. Never sends: it renders a template, builds the message with a
fixed Message-ID and writes it to the outbox, inside the caller's transaction."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from maildesk.config.settings import Station
from maildesk.desk import Desk
from maildesk.mail.message import build_message, make_message_id
from maildesk.mail.parse import ParsedMail

log = logging.getLogger(__name__)

# Mails that answer someone's mail, to that someone: counted against the reply budgets.
# Steps an officer takes (updates, closures) and notifications are not answers.
ANSWERS = frozenset({"ack", "oversize", "status", "confirm", "help", "reopened"})
# Mails that tell a resident about their complaint; when one cannot be written or sent,
# the officers are told instead.
TO_RESIDENT = frozenset({"ack", "oversize", "status", "reopened", "update", "closed",
                         "incomplete", "transferred", "forwarded", "duplicate"})
HOUR = timedelta(hours=1)


def _over_budget(desk: Desk, station: Station, address: str) -> str | None:
    """Which reply budget one more answer to `address` would break, if any."""
    config, store, since = desk.config, desk.store, desk.clock.now() - HOUR
    if store.answers_since(since, address=address) >= config.answers_per_address_hourly:
        return "answers_per_address_hourly"
    if store.answers_since(since, station=station.code) >= config.answers_per_station_hourly:
        return "answers_per_station_hourly"
    if store.answers_since(since) >= config.answers_hourly:
        return "answers_hourly"
    return None


def _within_budget(desk: Desk, station: Station, kind: str, to: list[str],
                   complaint: dict | None) -> list[str]:
    """The recipients an answer may still go to; the others are noted as held back."""
    if kind not in ANSWERS:
        return to
    allowed = []
    for address in to:
        budget = _over_budget(desk, station, address)
        desk.store.note_answer(address, station.code, kind, held=budget is not None)
        if budget is None:
            allowed.append(address)
            continue
        log.warning("station %s: %s answer held back, %s reached", station.code, kind, budget)
        if complaint:
            desk.store.add_event(complaint["id"], "maildesk", "answer_held",
                                 {"kind": kind, "to": address, "budget": budget})
    return allowed


def _message_id(desk: Desk, kind: str, code: str) -> str:
    return make_message_id(f"{kind}.{code}.{secrets.token_hex(6)}", desk.config.message_domain)


def _queue(desk: Desk, station: Station, *, kind: str, to: list[str], template: str,
           language: str, context: dict[str, Any], complaint: dict | None,
           in_reply_to: str | None = None, references: tuple[str, ...] = (),
           auto_submitted: str | None = "auto-replied",
           attachments: list[tuple[str, str, bytes]] | None = None) -> str | None:
    to = [a for a in to if a and not desk.store.is_undeliverable(a)]
    to = _within_budget(desk, station, kind, to, complaint)
    if not to:
        return None
    code = complaint["code"] if complaint else "none"
    subject, body = desk.templates.render(template, language, **context)
    message_id = _message_id(desk, kind, code)
    try:
        raw = build_message(
            from_addr=station.address, from_name=station.name, to_addrs=to, subject=subject,
            body=body, message_id=message_id, in_reply_to=in_reply_to,
            references=[*references, *([in_reply_to] if in_reply_to else [])],
            auto_submitted=auto_submitted, reply_to=station.address,
            extra_headers={"X-Maildesk-Station": station.code,
                           **({"X-Maildesk-Complaint": code} if complaint else {})},
            date=desk.clock.now(), attachments=attachments or [],
        )
    except ValueError as exc:
        # An address no mail can be written to (a crafted From): the complaint stands, only
        # this mail is skipped, and the officers hear that the resident was not told.
        if complaint is None or kind not in TO_RESIDENT:
            raise
        queue_no_reply(desk, station, complaint, kind, to, f"the mail cannot be written: {exc}")
        return None
    desk.store.queue_mail(message_id=message_id, kind=kind, station=station.code,
                          mail_from=station.address, rcpt_to=to, raw=raw,
                          complaint_id=complaint["id"] if complaint else None)
    return message_id


def reply_language(desk: Desk, station: Station, mail: ParsedMail | None,
                   stored: str | None = None) -> str:
    language = stored or (mail.language if mail else None) or station.language
    return language if desk.templates.has("ack", language) else station.language


def queue_ack(desk: Desk, station: Station, complaint: dict, mail: ParsedMail,
              next_step_by: datetime) -> str | None:
    # To the address recorded as the filer, never Reply-To: anyone can name a victim there.
    return _queue(
        desk, station, kind="ack", to=[mail.from_addr], template="ack",
        language=reply_language(desk, station, mail, complaint.get("language")),
        context={"code": complaint["code"], "station_name": station.name,
                 "urgency": complaint["urgency"], "subject": mail.subject,
                 "next_step_by": desk.local_time(next_step_by),
                 "station_address": station.address},
        complaint=complaint, in_reply_to=mail.message_id, references=mail.references,
    )


def queue_notify(desk: Desk, station: Station, complaint: dict, mail: ParsedMail,
                 template: str = "notify", history: list[dict] | None = None,
                 with_attachments: bool = True) -> str | None:
    """Tell the station's officers; the mail carries the resident's attachments."""
    files = [(a.filename, a.content_type, a.data) for a in mail.attachments
             if with_attachments]
    return _queue(
        desk, station, kind=template, to=[o.address for o in station.officers],
        template=template, language="en",
        context={"code": complaint["code"], "urgency": complaint["urgency"],
                 "reasons": complaint.get("reasons") or [],
                 "resident_name": complaint.get("resident_name") or "",
                 "resident_addr": complaint.get("resident_addr") or "",
                 "subject": mail.subject, "text": mail.text,
                 "attachments": [{"name": a.filename, "content_type": a.content_type,
                                  "size": a.size} for a in mail.attachments],
                 "station_name": station.name,
                 "received_at": desk.local_time(desk.clock.now()),
                 "history": history or [], "sender": mail.from_addr,
                 "from_filer": mail.from_addr == complaint.get("resident_addr")},
        complaint=complaint, auto_submitted="auto-generated", attachments=files,
    )


def queue_status(desk: Desk, station: Station, complaint: dict | None, mail: ParsedMail,
                 history: list[dict]) -> str | None:
    """Detail goes only to the address that filed the complaint; others get a neutral reply,
    the same as for a code that does not exist. Never to Reply-To."""
    language = reply_language(desk, station, mail)
    common: dict[str, Any] = {"to": [mail.from_addr], "language": language,
                              "in_reply_to": mail.message_id, "references": mail.references}
    if complaint is None or mail.from_addr != complaint["resident_addr"]:
        return _queue(desk, station, kind="status", template="status_unknown",
                      context={"code": complaint["code"] if complaint else ""},
                      complaint=None, **common)
    return _queue(
        desk, station, kind="status", template="status", complaint=complaint,
        context={"code": complaint["code"], "status": complaint["status"],
                 "updated_at": desk.local_time(datetime.fromisoformat(
                     complaint["updated_at"])),
                 "history": history},
        **common,
    )


def queue_oversize(desk: Desk, station: Station, mail: ParsedMail, size: int,
                   complaint: dict | None) -> str | None:
    """Told to the sender (From, never Reply-To); the code only to its filer."""
    limit = desk.config.max_mail_bytes
    filer = complaint is not None and mail.from_addr == complaint["resident_addr"]
    return _queue(
        desk, station, kind="oversize", to=[mail.from_addr],
        template="oversize", language=reply_language(desk, station, mail),
        context={"size_mb": round(size / 1048576, 1), "limit_mb": round(limit / 1048576),
                 "code": complaint["code"] if complaint and filer else ""},
        complaint=complaint if filer else None, in_reply_to=mail.message_id,
        references=mail.references,
    )


def queue_no_reply(desk: Desk, station: Station, complaint: dict, kind: str, to: list[str],
                   why: str, admins: bool = False) -> str | None:
    """Tell the station's officers that a mail to the resident could not be written or
    sent (an internationalised address the server cannot take, a broken address), so that
    they reach the resident another way; with `admins`, the administrators too (a mail the
    server refused: the address or the server may need them)."""
    desk.store.add_event(complaint["id"], "maildesk", "reply_impossible",
                         {"kind": kind, "to": ", ".join(to), "why": why})
    return _queue(
        desk, station, kind="no_reply_notify",
        to=[o.address for o in station.officers] + (list(desk.config.admins) if admins else []),
        template="no_reply_notify", language="en",
        context={"code": complaint["code"], "urgency": complaint["urgency"],
                 "subject": complaint.get("subject") or "", "what": kind,
                 "resident_addr": ", ".join(to), "why": why, "station_name": station.name},
        complaint=complaint, auto_submitted="auto-generated",
    )


def unsendable(desk: Desk, row: dict, error: str) -> None:
    """Called by the sender when a mail failed for good: for a mail to a resident about a
    complaint, the officers are told. Call inside a transaction."""
    if row["kind"] not in TO_RESIDENT or not row.get("complaint_id"):
        return
    complaint = desk.store.complaint(row["complaint_id"])
    if complaint is None:
        return
    try:
        station = desk.station(complaint["station"])
    except KeyError:
        return
    queue_no_reply(desk, station, complaint, row["kind"], list(row["rcpt_to"]), error,
                   admins=True)


def _resident_thread(desk: Desk, complaint: dict) -> tuple[str | None, tuple[str, ...]]:
    """Resident mails thread under the resident's first mail of the complaint."""
    return desk.store.first_message_id_from(complaint["id"], complaint["resident_addr"]), ()


def queue_resident(desk: Desk, station: Station, complaint: dict, template: str,
                   context: dict[str, Any]) -> str | None:
    """A step of the complaint told to the resident, in their language."""
    in_reply_to, references = _resident_thread(desk, complaint)
    return _queue(
        desk, station, kind=template, to=[complaint["resident_addr"]], template=template,
        language=reply_language(desk, station, None, complaint.get("language")),
        context={"code": complaint["code"], "station_name": station.name,
                 "subject": complaint.get("subject") or "", **context},
        complaint=complaint, in_reply_to=in_reply_to, references=references,
    )


def queue_officers(desk: Desk, station: Station, complaint: dict, template: str,
                   mail: ParsedMail, with_attachments: bool = True) -> str | None:
    """Tell the station's officers about a resident's reply (reopened, information given)."""
    return _queue(
        desk, station, kind=template, to=[o.address for o in station.officers],
        template=template, language="en",
        context={"code": complaint["code"], "urgency": complaint["urgency"],
                 "subject": complaint.get("subject") or "", "text": mail.text,
                 "resident_addr": complaint["resident_addr"], "station_name": station.name},
        complaint=complaint, auto_submitted="auto-generated",
        attachments=[(a.filename, a.content_type, a.data) for a in mail.attachments
                     if with_attachments],
    )


def queue_transfer_notify(desk: Desk, target: Station, complaint: dict, old: Station,
                          officer: str, note: str) -> str | None:
    """The new station's officers get the whole complaint, sent from their own desk."""
    first = desk.store.first_message(complaint["id"])
    history = history_of(desk, complaint)
    attachments = desk.store.attachments(first["id"]) if first else []
    return _queue(
        desk, target, kind="transfer_notify", to=[o.address for o in target.officers],
        template="transfer_notify", language="en",
        context={"code": complaint["code"], "urgency": complaint["urgency"],
                 "reasons": complaint.get("reasons") or [],
                 "resident_name": complaint.get("resident_name") or "",
                 "resident_addr": complaint.get("resident_addr") or "",
                 "subject": complaint.get("subject") or "",
                 "text": first["text"] if first else "",
                 "attachments": [{"name": a["filename"], "content_type": a["content_type"],
                                  "size": a["size"]} for a in attachments],
                 "station_name": target.name,
                 "received_at": desk.local_time(datetime.fromisoformat(complaint["created_at"])),
                 "history": history, "from_station": old.name, "officer": officer,
                 "note": note},
        complaint=complaint, auto_submitted="auto-generated",
        # An attachment removed by retention (a reopened old complaint) is listed, not sent.
        attachments=[(a["filename"], a["content_type"], data) for a in attachments
                     if (data := desk.store.read_blob(a["sha256"])) is not None],
    )


def history_of(desk: Desk, complaint: dict) -> list[dict]:
    """The complaint's events as officers read them in a mail."""
    return [{"at": desk.local_time(datetime.fromisoformat(e["at"])), "actor": e["actor"],
             "action": e["action"], "detail": _detail_text(e["detail"])}
            for e in desk.store.events(complaint["id"])]


def _detail_text(detail: dict) -> str:
    return "; ".join(f"{k}: {v}" for k, v in detail.items() if v not in ("", None, [], {}))


def queue_agency(desk: Desk, station: Station, complaint: dict, agency: Any,
                 note: str) -> str | None:
    first = desk.store.first_message(complaint["id"])
    return _queue(
        desk, station, kind="agency", to=[agency.address], template="agency", language="en",
        context={"code": complaint["code"], "station_name": station.name,
                 "agency_name": agency.name, "subject": complaint.get("subject") or "",
                 "text": first["text"] if first else "", "note": note,
                 "station_address": station.address},
        complaint=complaint, auto_submitted="auto-generated",
    )


def queue_officer_reply(desk: Desk, station: Station, complaint: dict | None, mail: ParsedMail,
                        template: str, context: dict[str, Any]) -> str | None:
    """Confirmation or help, to the officer who wrote, threaded under their mail."""
    return _queue(
        desk, station, kind=template, to=[mail.from_addr], template=template, language="en",
        context={"code": complaint["code"] if complaint else "",
                 "subject": (complaint or {}).get("subject") or mail.subject, **context},
        complaint=complaint, in_reply_to=mail.message_id, references=mail.references,
    )


def queue_admins(desk: Desk, station: Station, template: str,
                 context: dict[str, Any]) -> str | None:
    return _queue(desk, station, kind=template, to=list(desk.config.admins),
                  template=template, language="en", context=context, complaint=None,
                  auto_submitted="auto-generated")


def queue_alert(desk: Desk, station: Station, complaint: dict, template: str, to: list[str],
                tier: str, due: datetime) -> int | None:
    """An escalation about one complaint, from its station's desk so that a reply (from an
    officer or the DCP) comes back to it and can carry commands."""
    first = desk.store.first_message(complaint["id"])
    created = datetime.fromisoformat(complaint["created_at"])
    message_id = _queue(
        desk, station, kind=f"alert_{tier}", to=to, template=template, language="en",
        context={"code": complaint["code"], "urgency": complaint["urgency"],
                 "status": complaint["status"], "station_name": station.name,
                 "subject": complaint.get("subject") or "",
                 "text": (first["text"] if first else "")[:2000],
                 "received_at": desk.local_time(created),
                 "due_at": desk.local_time(due),
                 "age": _age(desk.clock.now() - created), "tier": tier},
        complaint=complaint, auto_submitted="auto-generated",
    )
    if message_id is None:
        return None
    return desk.store.outbox_id(message_id)


def queue_station_alert(desk: Desk, station: Station, template: str, to: list[str],
                        context: dict[str, Any], via: Station | None = None) -> str | None:
    """About a station's mailbox (down, silent, recovered): to administrators and DCP.
    `via`: another station to send it through, when this one's own sending is the trouble."""
    return _queue(desk, via or station, kind=template, to=to, template=template, language="en",
                  context={"station_code": station.code, "station_name": station.name,
                           "mailbox": station.address, **context},
                  complaint=None, auto_submitted="auto-generated")


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} days {minutes % 1440 // 60} h"
