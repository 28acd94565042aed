"""Stage: decide what a mail is. Each rule is a named predicate returning a reason or None;
the first rule that speaks decides. The order of `RULES` is the order of the checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from maildesk.config.settings import Config, Station
from maildesk.mail.own_mail import outbox_lookup
from maildesk.mail.parse import ParsedMail, header_values
from maildesk.mail.patterns import CODE, OWN_MESSAGE_ID, STATUS, own_kind
from maildesk.mail.quotes import typed_reply
from maildesk.officer.auth import sole_sender
from maildesk.sorting.machine import (
    autoreply_body,
    autoreply_subject,
    may_be_autoreply,
    own_subject,
)
from maildesk.triage.classify import classify

_DAEMON_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounce[s]?)"
                             r"([+-].*)?@", re.IGNORECASE)

# A status request may carry a greeting and a name; more than this is a follow-up.
MAX_STATUS_WORDS_CHARS = 80

# What sorting can decide; which kinds are answered is said once, in sorting.record.ANSWERED.
KINDS = ("unreadable", "own", "bounce", "autoreply", "list", "officer", "status", "followup",
         "rate_limited", "oversize", "new")


class Lookup(Protocol):
    """What sorting may ask the store (read only)."""

    def complaint_by_code(self, code: str) -> dict[str, Any] | None: ...
    def complaint_by_message_ids(self, message_ids: list[str]) -> dict[str, Any] | None: ...
    def messages_from(self, station: str, address: str, since: Any) -> int: ...
    def sent_mail(self, message_ids: list[str]) -> list[bytes]: ...
    def officer_reply_texts(self, address: str) -> list[str]: ...
    def sent_to(self, message_ids: list[str]) -> dict[str, list[str]]: ...


# Our own mails that are never answered when someone replies to them: an answer to an
# answer is how loops with auto-responders start.
QUIET_AFTER = ("confirm", "help", "status", "oversize")


@dataclass(frozen=True)
class Sorted:
    kind: str
    reason: str
    complaint: dict[str, Any] | None = None  # the complaint a follow-up/officer mail refers to
    code: str | None = None  # a code named in the mail, known or not
    quiet: str = ""  # why the mail is recorded and acted on but not answered, if it is not
    oversize: bool = False  # over max_mail_bytes: its files are kept, not forwarded


@dataclass(frozen=True)
class Context:
    config: Config
    station: Station
    size: int
    lookup: Lookup | None  # None in a dry run: nothing is known about existing complaints
    now: Any = None
    complaint: dict[str, Any] | None = None  # the complaint the mail refers to, if any
    complaint_reason: str = ""


def typed(mail: ParsedMail, lookup: Lookup | None) -> str:
    """What the sender typed, with the desk's own sent mail (the outbox) to find the quote
    of it and the sender's earlier replies to learn their signature: the one reading of a
    reply for every stage (sorting, commands, inspect)."""
    if lookup is None:
        return typed_reply(mail)
    earlier = lookup.officer_reply_texts(mail.from_addr) if mail.from_addr else []
    # The mail itself may already be recorded: it is no earlier reply.
    earlier = [text for text in earlier if text != mail.text]
    return typed_reply(mail, outbox_lookup(lookup.sent_mail), earlier)


def _header(mail: ParsedMail, name: str) -> str:
    values = header_values(mail, name)
    return values[0].strip().lower() if values else ""


def unreadable(mail: ParsedMail, ctx: Context) -> str | None:
    return f"could not be parsed: {mail.error}" if mail.error else None


def own_mail(mail: ParsedMail, ctx: Context) -> str | None:
    if header_values(mail, "x-maildesk-station"):
        return "carries our own X-Maildesk-Station header (a loop)"
    if mail.message_id and OWN_MESSAGE_ID.match(mail.message_id) and mail.message_id.endswith(
            "@" + ctx.config.message_domain):
        return "has one of our own Message-IDs (a loop)"
    if mail.from_addr and mail.from_addr in {s.address for s in ctx.config.stations}:
        return f"sent from a station mailbox ({mail.from_addr})"
    return None


def bounce(mail: ParsedMail, ctx: Context) -> str | None:
    if mail.is_report and mail.report_type == "delivery-status":
        return "a delivery status notification (RFC 3464)"
    if mail.failed_recipients:
        return "names failed recipients (X-Failed-Recipients)"
    if _DAEMON_SENDERS.match(mail.from_addr or "") and "daemon" in mail.from_addr:
        return f"from {mail.from_addr}"
    if not mail.from_addr and _header(mail, "return-path") in ("<>", ""):
        if header_values(mail, "return-path"):
            return "null return path (a bounce)"
    return None


def auto_reply(mail: ParsedMail, ctx: Context) -> str | None:
    """RFC 3834 and the headers clients use instead; a null return path (an auto-responder
    sends with `MAIL FROM:<>`, as a bounce does)."""
    auto = _header(mail, "auto-submitted")
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("x-autoreply", "x-autorespond", "x-auto-reply"):
        if header_values(mail, name):
            return f"{name} header"
    if _header(mail, "precedence") in ("auto_reply", "auto-reply"):
        return "Precedence: auto_reply"
    if mail.is_report:
        return f"a {mail.report_type or 'report'} (RFC 6522)"
    if _DAEMON_SENDERS.match(mail.from_addr or ""):
        return f"from an automatic sender ({mail.from_addr})"
    if header_values(mail, "return-path") and _header(mail, "return-path") in ("<>", "< >"):
        return "null return path (Return-Path: <>), as auto-responders send"
    for name in ("x-autoresponse", "x-auto-response", "x-vacation", "x-mailer-autoreply"):
        if header_values(mail, name):
            return f"{name} header"
    return None


def machine_words(mail: ParsedMail, ctx: Context) -> str | None:
    """An out-of-office or vacation reply that says so only in its subject or its words.
    A mail that reads as urgent is still taken as a complaint: missing one costs most."""
    if autoreply_subject(mail.subject):
        why = "the subject of an automatic reply"
    elif may_be_autoreply(mail.text) and autoreply_body(typed(mail, ctx.lookup)):
        why = "reads as an out-of-office or automatic reply"
    else:
        return None
    rules = ctx.config.rules
    if rules is not None and classify(rules, mail.subject, mail.text).urgency == "urgent":
        return None
    return why


def list_mail(mail: ParsedMail, ctx: Context) -> str | None:
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if header_values(mail, name):
            return f"mailing list mail ({name})"
    precedence = _header(mail, "precedence")
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    return None


def officer_mail(mail: ParsedMail, ctx: Context) -> str | None:
    # Only a mail with one From address is an officer's: "officer@x, evil@y" is a stranger's.
    if sole_sender(mail) and mail.from_addr in ctx.config.officer_addresses(ctx.station):
        return f"from {mail.from_addr}, an officer of {ctx.station.code} or its DCP"
    return None


def status_request(mail: ParsedMail, ctx: Context) -> str | None:
    """`STATUS <code>` in the subject or on the first line — and little else: a reply that
    says more ("Status: still nobody came, and now they threaten us") is a follow-up, for
    the officers to read."""
    first = next((line for line in mail.text.splitlines() if line.strip()), "")
    # The desk's own "Status of your complaint [...]", echoed back, is not a request.
    subject = "" if own_subject(mail.subject) else mail.subject
    if not (STATUS.match(subject) or STATUS.match(first)):
        return None  # the common case, decided without reading the reply apart
    lines = [line for line in typed(mail, ctx.lookup).splitlines() if line.strip()]
    first_line = lines[0] if lines else ""
    for where, text in (("subject", subject), ("first line", first_line)):
        match = STATUS.match(text)
        if match:
            said = [text[match.end():], *lines[1:]] if where == "first line" else lines
            if len(" ".join(said).strip()) > MAX_STATUS_WORDS_CHARS and ctx.complaint:
                return None
            return f"asks for the status in the {where}"
    return None


def follow_up(mail: ParsedMail, ctx: Context) -> str | None:
    return ctx.complaint_reason if ctx.complaint is not None else None


def rate_limited(mail: ParsedMail, ctx: Context) -> str | None:
    if ctx.lookup is None or not mail.from_addr or ctx.now is None:
        return None
    count = ctx.lookup.messages_from(ctx.station.code, mail.from_addr,
                                     ctx.now - timedelta(hours=1))
    if count >= ctx.config.sender_hourly_limit:
        return f"{count} mails from {mail.from_addr} in the last hour (limit reached)"
    return None


def oversize(mail: ParsedMail, ctx: Context) -> str | None:
    if ctx.size > ctx.config.max_mail_bytes:
        return f"{ctx.size} bytes, over the limit of {ctx.config.max_mail_bytes}"
    return None


def named_code(mail: ParsedMail) -> str | None:
    match = CODE.search(mail.subject) or STATUS.match(mail.text.strip())
    if match and match.group(1):
        return match.group(1).upper()
    return None


def refers_to(mail: ParsedMail, lookup: Lookup | None,
              config: Config) -> tuple[dict | None, str]:
    """The complaint a mail refers to: by our Message-IDs in its headers, else by the code.
    Only for its filer, the desk's own people, or (by threading) someone the desk wrote to
    about it: anyone else gets what an unknown code gets, a new complaint, so a stranger
    cannot learn that a code or a Message-ID exists (codes count up per station and month)."""
    if lookup is None:
        return None, ""
    ids = [*mail.in_reply_to, *mail.references]
    complaint = lookup.complaint_by_message_ids(ids)
    if complaint and (_filer_or_desk(mail, complaint, config) or mail.from_addr in {
            a.lower() for rcpts in lookup.sent_to(ids).values() for a in rcpts}):
        return complaint, "In-Reply-To/References name one of its messages"
    code = named_code(mail)
    if code:
        complaint = lookup.complaint_by_code(code)
        if complaint and _filer_or_desk(mail, complaint, config):
            return complaint, f"the subject carries its code {code}"
    return None, ""


def _filer_or_desk(mail: ParsedMail, complaint: dict, config: Config) -> bool:
    return bool(mail.from_addr) and (mail.from_addr == complaint["resident_addr"]
                                     or mail.from_addr in config.known_addresses())


def quiet_reason(mail: ParsedMail, config: Config) -> str:
    """Why a mail must not be answered though it is handled: it replies to one of our own
    answers (a confirmation, help, status or oversize mail), or carries our own subject."""
    parents = list(mail.in_reply_to) or list(mail.references[-1:])
    for message_id in parents:
        kind = own_kind(message_id, config.message_domain)
        if kind in QUIET_AFTER:
            return f"replies to the desk's own {kind} mail"
    if own_subject(mail.subject):
        return "carries one of the desk's own subjects"
    return ""


Rule = Callable[[ParsedMail, Context], str | None]
RULES: tuple[tuple[str, Rule], ...] = (
    ("unreadable", unreadable),
    ("own", own_mail),
    ("bounce", bounce),
    ("autoreply", auto_reply),
    ("list", list_mail),
    ("autoreply", machine_words),
    ("officer", officer_mail),
    # Before status requests and follow-ups: each of them is answered or forwarded too.
    ("rate_limited", rate_limited),
    ("status", status_request),
    ("followup", follow_up),
    ("oversize", oversize),
)


def sort_mail(mail: ParsedMail, ctx: Context) -> Sorted:
    complaint, why = refers_to(mail, ctx.lookup, ctx.config)
    ctx = replace(ctx, complaint=complaint, complaint_reason=why)
    code = complaint["code"] if complaint else named_code(mail)
    for kind, rule in RULES:
        reason = rule(mail, ctx)
        if reason:
            # The size limit holds for every kind of mail, not only new complaints.
            return Sorted(kind, reason, complaint, code, quiet_reason(mail, ctx.config),
                          oversize=oversize(mail, ctx) is not None)
    return Sorted("new", "a new complaint", None, code, quiet_reason(mail, ctx.config))
