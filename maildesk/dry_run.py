"""`maildesk inspect`: a dry run of parse, sort and classify on mail files. Touches no
database and no server; uses the configuration only for context (stations, officers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maildesk.config.settings import Config, Station
from maildesk.mail.parse import parse_mail
from maildesk.mail.patterns import is_reply_subject
from maildesk.officer.commands import parse_commands, read_reply
from maildesk.sorting.rules import Context, sort_mail, typed
from maildesk.triage.classify import classify

KIND_NAMES = {
    "new": "new complaint", "followup": "follow-up", "officer": "officer reply",
    "status": "status request", "autoreply": "auto-reply", "bounce": "bounce",
    "list": "list or bulk mail", "own": "our own mail (loop)", "unreadable": "unreadable",
    "rate_limited": "rate limited", "oversize": "oversize",
}


class _NoComplaints:
    """Sorting's view of the store in a dry run: no complaint is known."""

    def complaint_by_code(self, code: str) -> None:
        return None

    def complaint_by_message_ids(self, message_ids: list[str]) -> None:
        return None

    def messages_from(self, station: str, address: str, since: Any) -> int:
        return 0

    def sent_mail(self, message_ids: list[str]) -> list[bytes]:
        return []  # no outbox: the desk's templates still mark its own mail in a reply

    def sent_to(self, message_ids: list[str]) -> dict[str, list[str]]:
        return {}

    def officer_reply_texts(self, address: str) -> list[str]:
        return []  # no earlier replies: only the rules find a signature


def _station_for(config: Config, addresses: tuple[str, ...]) -> Station:
    for station in config.stations:
        if station.address in addresses:
            return station
    return config.stations[0]  # any mail can be inspected, addressed to a station or not


def inspect_file(config: Config, path: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"file": str(path)}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report["error"] = f"cannot read: {exc.strerror}"
        return report
    mail = parse_mail(raw)
    station = _station_for(config, mail.to_addrs)
    decision = sort_mail(mail, Context(config, station, len(raw), _NoComplaints()))
    verdict = classify(config.rules, mail.subject, mail.text)
    code = decision.code
    is_reply = bool(mail.in_reply_to or mail.references or code or is_reply_subject(mail.subject))
    text = typed(mail, None) if is_reply else mail.text
    parsed = None
    if decision.kind == "officer":
        parsed = (read_reply(text, mail.text, mail.from_html) if is_reply
                  else parse_commands(mail.text))
    report.update({
        "kind": decision.kind, "kind_name": KIND_NAMES.get(decision.kind, decision.kind),
        "why": decision.reason, "station": station.code, "from": mail.from_addr,
        "subject": mail.subject, "language": mail.language, "urgency": verdict.urgency,
        "score": verdict.score, "reasons": list(verdict.reasons), "text": text,
        "officer": decision.kind == "officer", "complaint": code,
        "commands": [{"name": c.name, "arg": c.arg} for c in parsed.commands] if parsed else [],
        "problems": list(parsed.problems) if parsed else [],
        "attachments": [{"name": a.filename, "content_type": a.content_type, "size": a.size}
                        for a in mail.attachments],
    })
    if mail.error:
        report["error"] = mail.error
    return report
