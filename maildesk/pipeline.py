"""The life of one incoming mail, in order:

    store raw → parse → dedupe → sort → classify → record (+ queue outgoing mail)

`take_mail` runs these stages for one mail inside the caller's transaction, in a savepoint of
its own: a mail that makes a stage fail is rolled back alone and recorded as *shunted* with
the reason (its bytes are already stored, so it can be replayed); the batch carries on.
"""

from __future__ import annotations

import logging
import traceback

from maildesk.desk import Desk
from maildesk.mail.parse import ParsedMail, parse_mail
from maildesk.sorting.record import (
    Incoming,
    Recorded,
    record_followup,
    record_new,
    record_officer,
    record_other,
    record_status,
)
from maildesk.sorting.rules import Context, Sorted, sort_mail
from maildesk.triage.classify import classify

log = logging.getLogger(__name__)


def dedupe_key(mail: ParsedMail, sha256: str) -> str:
    """Two arrivals of one mail share a Message-ID; without one, the bytes decide."""
    return f"mid:{mail.message_id}" if mail.message_id else f"sha:{sha256}"


def _decide(desk: Desk, item: Incoming, mail: ParsedMail) -> Recorded:
    ctx = Context(desk.config, item.station, item.size, desk.store, desk.clock.now())
    decision = sort_mail(mail, ctx)
    if decision.kind in ("new", "oversize"):  # an oversize mail may still be an emergency
        verdict = classify(desk.config.rules, mail.subject, mail.text)
        return record_new(desk, item, mail, decision, verdict)
    if decision.kind == "followup":
        return record_followup(desk, item, mail, decision)
    if decision.kind == "status":
        return record_status(desk, item, mail, decision)
    if decision.kind == "officer":
        return record_officer(desk, item, mail, decision)
    return record_other(desk, item, mail, decision)


def take_mail(desk: Desk, station_code: str, raw: bytes, uid: int | None = None,
              uidvalidity: int | None = None, sha: str | None = None) -> Recorded:
    """Run one mail through every stage. Call inside `desk.store.transaction()`.
    `sha` says the raw bytes are stored already (a batch is stored at once)."""
    store = desk.store
    if sha is None:
        sha = store.save_raw(raw)  # the bytes are safe on disk before anything else happens
    mail = parse_mail(raw)
    item = Incoming(desk.station(station_code), sha, len(raw), dedupe_key(mail, sha), uid,
                    uidvalidity)
    seen = store.find_message(station_code, item.dedupe_key)
    if seen is not None:
        return Recorded(seen["kind"], seen["id"], None, duplicate=True)
    try:
        with store.savepoint():
            return _decide(desk, item, mail)
    except Exception as exc:  # noqa: BLE001 - the one place a bad mail is set aside
        # The type only: an exception's message may quote the mail, which stays out of logs.
        log.error("station %s: mail %s shunted (%s); `maildesk status` shows the reason",
                  station_code, sha[:12], type(exc).__name__)
        decision = Sorted("shunted", f"{type(exc).__name__}: {exc}")
        with store.savepoint():
            row = store.add_message(
                station=station_code, dedupe_key=item.dedupe_key, sha256=sha, size=len(raw),
                message_id=mail.message_id, uidvalidity=uidvalidity, uid=uid,
                from_addr=mail.from_addr, subject=mail.subject, kind=decision.kind,
                reason=decision.reason, parse_error=traceback.format_exc(limit=5),
            )
        return Recorded("shunted", row)
