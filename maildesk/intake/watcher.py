"""A station's IDLE watcher: one IMAP connection in IDLE, in a thread of its own, that wakes
the daemon as soon as the server reports new mail (RFC 2177)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from maildesk.config.settings import Station
from maildesk.errors import PermanentError, TemporaryError
from maildesk.intake.imap import Mailbox
from maildesk.outages import PROBE_SECONDS, Outages

log = logging.getLogger(__name__)

IDLE_SECONDS = 120  # re-issue IDLE well inside the 29 minutes RFC 2177 allows
LONGEST_BACKOFF = timedelta(minutes=15)


def backoff(failures: int, interval: int) -> timedelta:
    """How long a mailbox that refuses the login waits before the next try. A server that
    cannot be reached is not waited for: it is probed every PROBE_SECONDS."""
    return min(timedelta(seconds=interval) * (2 ** min(failures, 10)), LONGEST_BACKOFF)


def server_key(station: Station) -> str:
    return f"imap {station.imap.host}:{station.imap.port}"


def login_key(station: Station) -> str:
    return f"imap login {station.code}"


def report_failure(outages: Outages, station: Station, exc: Exception,
                   attempt_started: float | None = None) -> None:
    """One line at WARNING when a mailbox's outage begins, however many notice it."""
    if isinstance(exc, PermanentError):
        outages.begin(login_key(station), f"station {station.code}: {exc}; fix the "
                      "password or token, then SIGHUP", attempt_started)
    else:
        outages.begin(server_key(station), f"IMAP server {station.imap.host}:"
                      f"{station.imap.port} cannot be reached (station {station.code}: {exc}); "
                      f"trying every {PROBE_SECONDS:g} s", attempt_started)


def report_success(outages: Outages, station: Station) -> None:
    outages.end(server_key(station), f"IMAP server {station.imap.host}:{station.imap.port} "
                f"answers again (station {station.code})")
    outages.end(login_key(station), f"station {station.code}: IMAP login works again")


class Watcher:
    """One station's IDLE connection, in a thread of its own. From that thread it calls
    `wake(code, why)` whenever the station may have mail."""

    def __init__(self, station: Station, wake: Callable[[str, str], None],
                 outages: Outages | None = None) -> None:
        self.station, self.wake = station, wake
        self.outages = outages or Outages()
        self.stopping = threading.Event()
        # select() cannot wait on an Event: a byte written here ends a wait_for_mail() at once.
        self._interrupt, self._interrupter = socket.socketpair()
        self.thread = threading.Thread(target=self._run, name=f"idle-{station.code}",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        try:
            self._interrupter.send(b"\0")
        except OSError:  # the thread has ended and closed it
            pass

    def _run(self) -> None:
        try:
            self._watch()
        finally:
            self._interrupt.close()
            self._interrupter.close()

    def _watch(self) -> None:
        station, failures = self.station, 0
        while not self.stopping.is_set():
            mailbox = Mailbox(station.imap, station.inbox, station.processed_folder)
            started, delay = time.monotonic(), PROBE_SECONDS
            try:
                mailbox.connect()
                if "IDLE" not in mailbox.capabilities():
                    log.info("station %s: no IDLE; polling every %ss", station.code,
                             station.poll_seconds)
                    return
                mailbox.select_inbox()
                report_success(self.outages, station)
                log.info("station %s: watching INBOX with IDLE", station.code)
                # What arrived while no connection was idling shows only to a pass.
                self.wake(station.code, "IDLE connected")
                while not self.stopping.is_set() and mailbox.client is not None:
                    news = mailbox.wait_for_mail(IDLE_SECONDS, self._interrupt)
                    if mailbox.client is not None:
                        failures = 0  # a whole round of IDLE went well
                    if news and not self.stopping.is_set():
                        self.wake(station.code, "IDLE reports new mail")
            except (TemporaryError, PermanentError) as exc:
                log.info("station %s: IDLE watcher: %s", station.code, exc)
                report_failure(self.outages, station, exc, started)
                failures += 1
                if isinstance(exc, PermanentError):  # a wrong password stays wrong a while
                    delay = backoff(failures - 1, 5).total_seconds()
            except Exception:  # noqa: BLE001 - a bug here must not end IDLE for good
                log.exception("station %s: IDLE watcher failed", station.code)
                failures += 1
                delay = backoff(failures - 1, 5).total_seconds()
            finally:
                mailbox.close()
            # Waiting on the event is the pause between tries: stop() ends it at once. A
            # connection lost in IDLE is tried again at once, then every PROBE_SECONDS.
            if failures:
                self.stopping.wait(delay)
