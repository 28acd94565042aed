"""Stage: send. Drains the outbox: each due mail goes out through its station's SMTP server;
temporary failures wait and retry with growing delays, permanent ones are marked failed and
reported in the audit trail. A crash after the server accepted a mail but before it was
marked sent sends that one mail again: at most one duplicate."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from maildesk import metrics
from maildesk.config.settings import Station
from maildesk.desk import Desk
from maildesk.errors import PermanentError, TemporaryError
from maildesk.faults import crash_point
from maildesk.mail.outgoing import unsendable
from maildesk.mail.smtp import SmtpSession

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(minutes=30)
GIVE_UP_AFTER = timedelta(days=3)
CONNECTIONS_PER_STATION = 4


@dataclass
class SendResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (2 ** attempts), LONGEST_RETRY)


def _fail(desk: Desk, row: dict, error: str, result: SendResult) -> None:
    with desk.store.transaction():
        desk.store.mark_failed(row["id"], error)
        if row["complaint_id"]:
            desk.store.add_event(row["complaint_id"], "maildesk", "mail_failed",
                                 {"kind": row["kind"], "to": row["rcpt_to"], "error": error})
            unsendable(desk, row, error)  # the officers hear that the resident was not told
    result.failed += 1
    result.errors.append(error)
    metrics.ERRORS.labels(row["station"], "send").inc()
    log.error("outbox %s (%s) failed: %s", row["id"], row["kind"], error)


def _retry(desk: Desk, row: dict, error: str, result: SendResult) -> None:
    age = desk.clock.now() - _created(row)
    if age > GIVE_UP_AFTER:
        _fail(desk, row, f"gave up after {age}: {error}", result)
        return
    desk.store.mark_retry(row["id"], error, desk.clock.now() + retry_delay(row["attempts"]))
    metrics.ERRORS.labels(row["station"], "send").inc()
    result.retrying += 1
    result.errors.append(error)


def _created(row: dict) -> datetime:
    return datetime.fromisoformat(row["created_at"])


async def _send_station(desk: Desk, station_code: str, rows: list[dict],
                        result: SendResult) -> None:
    try:
        station = desk.station(station_code)
    except KeyError:
        for row in rows:
            _fail(desk, row, f"station {station_code} is no longer configured", result)
        return
    # A backlog goes out over a few connections at once; a handful is what mail servers
    # allow one client without throttling it.
    size = -(-len(rows) // CONNECTIONS_PER_STATION)
    await asyncio.gather(*(_send_over_one_connection(desk, station, rows[i : i + size], result)
                           for i in range(0, len(rows), size)))


async def _send_over_one_connection(desk: Desk, station: Station, rows: list[dict],
                                    result: SendResult) -> None:
    handled = 0
    try:
        async with SmtpSession(station.smtp) as session:
            for row in rows:
                try:
                    await session.send(row["mail_from"], row["rcpt_to"], row["raw"])
                except PermanentError as exc:
                    _fail(desk, row, str(exc), result)
                    handled += 1
                    continue
                crash_point("after-smtp-accept")
                desk.store.mark_sent(row["id"])
                if row["kind"] == "ack":
                    metrics.ACKNOWLEDGED.labels(row["station"]).inc()
                    metrics.ACK_LATENCY.observe(
                        (desk.clock.now() - _created(row)).total_seconds())
                result.sent += 1
                handled += 1
    except (TemporaryError, PermanentError) as exc:
        # The connection is gone: what was not handled waits for a later drain.
        for row in rows[handled:]:
            _retry(desk, row, str(exc), result)


async def drain_outbox(desk: Desk, limit: int = 1000) -> SendResult:
    """Send what is due, each station over its own connections, stations in parallel."""
    result = SendResult()
    while True:
        rows = desk.store.due_mail(limit)
        if not rows:
            return result
        by_station: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_station[row["station"]].append(row)
        await asyncio.gather(*(_send_station(desk, code, batch, result)
                               for code, batch in by_station.items()))
        if len(rows) < limit:
            return result
