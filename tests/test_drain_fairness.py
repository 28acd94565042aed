"""A quiet station's mail is not held up by another station's outbox backlog (issue #14).

Station B has 1,000 mails due; while B's drain is sending them, one mail is queued for
station A. A's mail must be sent while B's drain is still going, not after it. The test
synchronises on the SMTP server: B's tenth mail is held at DATA (inside the send window)
until A's mail has reached RCPT, which it can only do if A's drain runs beside B's. After
that the window, first come first served, lets A's DATA in within a handful of B's mails.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from deskenv import StationAccount, config_for
from servers import Received, SmtpRecorder

from maildesk.daemon import Daemon

BACKLOG = 1000
QUIET = "a.resident@example.test"
HELD_AT = 10  # B's mail held at DATA until A's mail is at RCPT
PATIENCE = 30  # seconds; only reached when A's mail waits for B's drain (the failure)


def raw(message_id: str, to: str) -> bytes:
    return (f"From: desk@maildesk.test\r\nTo: {to}\r\nMessage-ID: {message_id}\r\n"
            f"Subject: your complaint\r\n\r\nReceived.\r\n").encode()


class RcptWatch(dict):
    """The recorder's `refused` table (asked at every RCPT): refuses nobody, and says when
    A's mail reaches RCPT."""

    def __init__(self) -> None:
        super().__init__()
        self.quiet_at_rcpt = threading.Event()

    def get(self, address: str, default: object = None) -> object:
        if address == QUIET:
            self.quiet_at_rcpt.set()
        return default


def test_quiet_station_is_sent_during_another_stations_backlog(tmp_path, smtp: SmtpRecorder):
    stations = [StationAccount("AAA", "a", "pw-a"), StationAccount("BBB", "b", "pw-b")]
    config = config_for(tmp_path, ("127.0.0.1", 9), (smtp.host, smtp.port), stations)
    watch = RcptWatch()
    smtp.refused = watch
    b_sending = threading.Event()
    held: list[bool] = []  # whether A reached RCPT while B's mail was held

    def deliver(message: Received) -> None:  # in the recorder's thread, before its 250
        if message.rcpt_tos == [QUIET]:
            return
        b_count = sum(1 for m in smtp.messages if m.rcpt_tos != [QUIET]) + 1
        if b_count == 1:
            b_sending.set()
        if b_count == HELD_AT:
            held.append(watch.quiet_at_rcpt.wait(PATIENCE))

    smtp.deliver = deliver

    async def scenario() -> None:
        daemon = Daemon(config, None)
        store = daemon.desk.store
        try:
            def queue(code: str, ids: range, to: str) -> None:
                with store.transaction():
                    for n in ids:
                        store.queue_mail(message_id=f"<{code}{n}@maildesk.test>", kind="ack",
                                         station=code, mail_from="desk@maildesk.test",
                                         rcpt_to=[to if code == "AAA" else f"r{n}@example.test"],
                                         raw=raw(f"<{code}{n}@maildesk.test>", to))

            await asyncio.to_thread(queue, "BBB", range(BACKLOG), "")
            backlog = asyncio.create_task(daemon.send())
            assert await asyncio.to_thread(b_sending.wait, PATIENCE), "B's drain never began"
            await asyncio.to_thread(queue, "AAA", range(1), QUIET)
            daemon.start_send()  # what intake does after a committed batch
            await backlog
            while daemon.running:  # the drain started for A, if it is still going
                await asyncio.gather(*daemon.running.values())
        finally:
            daemon.pool.shutdown(wait=True)
            daemon.desk.close()

    asyncio.run(scenario())
    assert held == [True], "A's mail waited for B's drain to end"
    order = [m.rcpt_tos[0] for m in smtp.messages]
    assert len(order) == BACKLOG + 1 and Counter(order).most_common(1)[0][1] == 1  # once each
    after = len(order) - 1 - order.index(QUIET)
    assert after >= BACKLOG - HELD_AT - 10, f"only {after} of B's mails went after A's"
