"""Stage: send. Drains the outbox, oldest first: each due mail goes out through its station's
SMTP server. A mail the server puts off (4xx to its recipients) waits and retries with growing
delays; one it refuses (5xx) is marked failed, reported in the audit trail and told to the
officers. A server that cannot be reached or refuses everything is an outage: its mail is left
as it is (due, in order) and the daemon probes the server until it answers.

At most one duplicate per crash: the step from the server's 250 to DATA to the commit of
`mark_sent` is taken by one connection at a time (`window`, one for all the drains that run
at once: the daemon drains each station on its own), so a crash can catch only one mail
accepted but not recorded. Every store call runs in a worker thread: the event loop never
waits for the database."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from maildesk import metrics
from maildesk.config.settings import Server, Station
from maildesk.desk import Desk
from maildesk.errors import PermanentError, TemporaryError
from maildesk.faults import crash_point
from maildesk.mail.outgoing import unsendable
from maildesk.mail.smtp import DataDeferred, Deferred, SmtpSession
from maildesk.outages import Outages

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
    down: dict[str, str] = field(default_factory=dict)  # SMTP server key -> why nothing went


def retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (2 ** attempts), LONGEST_RETRY)


def server_key(server: Server) -> str:
    return f"smtp {server.host}:{server.port}"


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
    if _too_old(desk, row):
        _fail(desk, row, f"gave up after {desk.clock.now() - _created(row)}: {error}", result)
        return
    desk.store.mark_retry(row["id"], error, desk.clock.now() + retry_delay(row["attempts"]))
    metrics.ERRORS.labels(row["station"], "send").inc()
    result.retrying += 1
    result.errors.append(error)


def _left_waiting(desk: Desk, rows: list[dict], error: str, result: SendResult) -> None:
    """Mail of a server that is down keeps its place in the queue (the attempt and the error
    are noted, for `status` and the mailbox alerts); what waited past GIVE_UP_AFTER is given
    up on."""
    waiting = []
    for row in rows:
        if _too_old(desk, row):
            _fail(desk, row, f"gave up after {desk.clock.now() - _created(row)}: {error}",
                  result)
        else:
            waiting.append(row["id"])
    desk.store.mark_waiting(waiting, error)
    result.retrying += len(waiting)
    result.errors.append(error)


def _too_old(desk: Desk, row: dict) -> bool:
    return desk.clock.now() - _created(row) > GIVE_UP_AFTER


def _created(row: dict) -> datetime:
    return datetime.fromisoformat(row["created_at"])


async def _in_thread(func, *args) -> None:  # noqa: ANN001 - any store function
    await asyncio.to_thread(func, *args)


class _Drain:
    """One drain: the rows of each station in a queue its connections take from in turn."""

    def __init__(self, desk: Desk, down: set[str], window: asyncio.Lock | None) -> None:
        self.desk, self.down = desk, down
        self.result = SendResult()
        self.window = window or asyncio.Lock()
        self.taken: Counter[str] = Counter()  # mails each station's server took in this drain

    async def station(self, code: str, rows: list[dict]) -> None:
        desk = self.desk
        try:
            station = desk.station(code)
        except KeyError:
            for row in rows:
                await _in_thread(_fail, desk, row, f"station {code} is no longer configured",
                                 self.result)
            return
        queue = deque(rows)
        # A backlog goes out over a few connections at once (a handful is what mail servers
        # allow one client without throttling it); a server that was down gets one, a probe.
        width = 1 if server_key(station.smtp) in self.down else CONNECTIONS_PER_STATION
        # A mail put off at DATA (4xx) is held until the drain's end says whether that was
        # about the mail (the server took other mail of this station: it is retried later,
        # on its own) or about all mail (nothing was taken: an outage, probed).
        held: list[tuple[dict, str]] = []
        await asyncio.gather(*(self.connection(station, queue, held)
                               for _ in range(min(width, len(rows)))))
        if not held:
            return
        key = server_key(station.smtp)
        if key not in self.result.down and not self.taken[code]:
            self.result.down[key] = f"station {code}: {held[0][1]}"
            metrics.ERRORS.labels(code, "send").inc()
        if key in self.result.down:
            await _in_thread(_left_waiting, desk, [row for row, _ in held], held[0][1],
                             self.result)
        else:
            for row, error in held:
                await _in_thread(_retry, desk, row, error, self.result)

    async def connection(self, station: Station, queue: deque[dict],
                         held: list[tuple[dict, str]]) -> None:
        desk, result = self.desk, self.result
        row: dict | None = None
        put_off = False  # the last mail of this connection was put off at DATA
        try:
            async with SmtpSession(station.smtp) as session:
                while queue:
                    row = queue.popleft()
                    try:
                        await session.send(row["mail_from"], row["rcpt_to"], row["raw"],
                                           self.window, lambda r=row: self.accepted(r))
                    except PermanentError as exc:
                        await _in_thread(_fail, desk, row, str(exc), result)
                    except DataDeferred as exc:
                        if put_off:
                            raise  # two in a row: the server puts everything off
                        held.append((row, str(exc)))
                        put_off = True
                        row = None
                        continue
                    except Deferred as exc:
                        await _in_thread(_retry, desk, row, str(exc), result)
                    put_off = False
                    row = None
        except (TemporaryError, PermanentError) as exc:
            # The server is unreachable, refuses the login or refuses everything: an outage.
            # The mail in hand and the rest keep their places for the probe's next drain.
            waiting = ([row] if row is not None else []) + list(queue)
            queue.clear()
            result.down[server_key(station.smtp)] = f"station {station.code}: {exc}"
            metrics.ERRORS.labels(station.code, "send").inc()
            await _in_thread(_left_waiting, desk, waiting, str(exc), result)

    async def accepted(self, row: dict) -> None:
        crash_point("after-smtp-accept")
        await _in_thread(self.desk.store.mark_sent, row["id"])
        self.taken[row["station"]] += 1
        # The Message-ID names the kind and the complaint code, and lets the mail be traced
        # in the SMTP server's own log.
        log.info("station %s: %s sent: %s", row["station"], row["kind"], row["message_id"])
        if row["kind"] == "ack":
            metrics.ACKNOWLEDGED.labels(row["station"]).inc()
            metrics.ACK_LATENCY.observe((self.desk.clock.now() - _created(row)).total_seconds())
        self.result.sent += 1


async def drain_outbox(desk: Desk, limit: int = 1000, outages: Outages | None = None,
                       tell: bool = True, stations: list[str] | None = None,
                       window: asyncio.Lock | None = None) -> SendResult:
    """Send what is due, oldest first, each station over its own connections, stations in
    parallel. With `outages`, a server's outage is reported there, once, and so is its end;
    without, a server that took nothing is logged (unless `tell` is False).

    `stations` drains only those stations' mail: the daemon drains each station on its own,
    so that a quiet station's acknowledgement never waits for another station's backlog.
    Drains running at the same time must share one `window` (at most one duplicate per
    crash), and must never share a station (its rows would be sent twice)."""
    down = set(outages.down("smtp ")) if outages is not None else set()
    if stations is not None:  # the other servers' outages are for their own drains to end
        down &= {server_key(s.smtp) for s in desk.config.stations if s.code in stations}
    drain = _Drain(desk, down, window)
    result = drain.result
    skipped: set[str] = set()  # stations whose server went down in this drain
    while True:
        rows = await asyncio.to_thread(desk.store.due_mail, limit, sorted(skipped), stations)
        if rows:
            by_station: dict[str, list[dict]] = defaultdict(list)
            for row in rows:
                by_station[row["station"]].append(row)
            await asyncio.gather(*(drain.station(code, batch)
                                   for code, batch in by_station.items()))
            skipped |= {code for code in by_station if _station_down(desk, code, result)}
        if len(rows) < limit:
            break
    if outages is not None:
        _report(desk, outages, result, down)
    elif tell:  # one drain (`poll --once`, `send`): every server that took nothing is told
        for key, why in result.down.items():
            log.warning("SMTP server %s takes no mail (%s); the outbox waits", key[5:], why)
    return result


def _station_down(desk: Desk, code: str, result: SendResult) -> bool:
    try:
        return server_key(desk.station(code).smtp) in result.down
    except KeyError:
        return False


def _report(desk: Desk, outages: Outages, result: SendResult, was_down: set[str]) -> None:
    for key, why in result.down.items():
        outages.begin(key, f"SMTP server {key[5:]} takes no mail ({why}); the outbox waits "
                      f"and the server is tried every few seconds")
    for key in was_down - set(result.down):
        outages.end(key, f"SMTP server {key[5:]} takes mail again")


class DrainWhileTakingIn:
    """For `poll --once`: the outbox drains while intake is still reading, so a backlog's
    first acknowledgements go out before its last mails are read (the daemon does the same
    with its own drains). `kick` (on the loop) asks for a drain after a committed batch; one
    drain runs at a time, and `finish` runs the last one, once intake is over.

    Once a drain finds a server down, the drains in between stop: its mail keeps its place
    for the last drain, which alone says what was left to retry and why."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.wanted = asyncio.Event()
        self.sent = self.failed = 0
        self.last = SendResult()
        self.ending = False
        self.task = asyncio.create_task(self._run())

    def kick(self) -> None:
        if not self.last.down:
            self.wanted.set()

    async def _run(self) -> None:
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            ending = self.ending  # the intake was over before this drain began
            self.last = await drain_outbox(self.desk, tell=ending)
            self.sent += self.last.sent
            self.failed += self.last.failed
            if ending:
                return

    async def finish(self) -> SendResult:
        self.ending = True
        self.wanted.set()
        await self.task
        last = self.last
        return SendResult(self.sent, last.retrying, self.failed, last.errors, last.down)
