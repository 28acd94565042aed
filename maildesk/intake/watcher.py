"""IDLE watchers: every station's IMAP connection in IDLE (RFC 2177), all held by one thread
that waits on their sockets at once and wakes the daemon as soon as a server reports new mail.

A thread per station cost 200 threads for 200 stations, and their stacks and wake-ups. Here
one thread selects over every IDLE socket and renews each IDLE every IDLE_SECONDS; logging in
and selecting INBOX, which block, run in a few connector threads (CONNECTORS), so a server
that hangs in connect holds up one of them, never the watching.
"""

from __future__ import annotations

import heapq
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from maildesk.config.settings import Station
from maildesk.errors import PermanentError, TemporaryError
from maildesk.intake.idle import IdleError, IdleSession
from maildesk.intake.imap import Mailbox
from maildesk.outages import PROBE_SECONDS, Outages

log = logging.getLogger(__name__)

IDLE_SECONDS = 120  # re-issue IDLE well inside the 29 minutes RFC 2177 allows
CONNECTORS = 4  # threads that log in and select INBOX for the watching thread
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


@dataclass
class _Opened:
    """What a connector thread made of a station's mailbox."""
    started: float
    mailbox: Mailbox | None = None
    sock: socket.socket | None = None
    buffered: bytes = b""
    error: Exception | None = None
    has_idle: bool = True


@dataclass
class _Watch:
    """What the watching thread knows of one station."""
    station: Station
    generation: int  # a new one for every watch(): late news of an older one is dropped
    failures: int = 0
    mailbox: Mailbox | None = None
    session: IdleSession | None = None
    connecting: bool = False
    scheduled: float = 0.0  # the session's deadline as last put in the heap


class Watchers:
    """The IDLE connections of every station. `watch()`, `unwatch()` and `stop()` may be
    called from any thread; from the watching thread it calls `wake(code, why)` whenever a
    station may have mail. `idling` (the stations whose server accepted IDLE), `connections`
    (how many times each connected) and `renewals` (IDLEs each ended well) change under
    `changed`."""

    def __init__(self, wake: Callable[[str, str], None], outages: Outages | None = None,
                 connectors: int = CONNECTORS, idle_seconds: float = IDLE_SECONDS) -> None:
        self.wake, self.outages = wake, outages or Outages()
        self.idle_seconds = idle_seconds
        self.stopping = threading.Event()
        self.changed = threading.Condition()
        self.idling: set[str] = set()
        self.connections: dict[str, int] = {}
        self.renewals: dict[str, int] = {}
        self._lock = threading.Lock()  # posting versus the last look at what was posted
        self._posted: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._to_connect: queue.SimpleQueue[tuple[Station, int] | None] = queue.SimpleQueue()
        # select() cannot wait on a queue: a byte written here ends the wait at once.
        self._interrupt, self._interrupter = socket.socketpair()
        self._interrupt.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._watched: dict[str, _Watch] = {}
        self._retries: list[tuple[float, int, str, int]] = []  # (when, n, code, generation)
        # Sessions' deadlines in a heap (when, n, code), so that a wake-up looks at the one
        # due, not at every station; entries a session has moved on from are skipped.
        self._deadlines: list[tuple[float, int, str]] = []
        self._generation = 0
        self.thread = threading.Thread(target=self._run, name="idle", daemon=True)
        # Daemon threads: one stuck in connect() to a hanging server ends with the process.
        self.connectors = [threading.Thread(target=self._connector, name=f"idle-connect-{n}",
                                            daemon=True) for n in range(connectors)]

    # -- from any thread ------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()
        for thread in self.connectors:
            thread.start()

    def watch(self, station: Station) -> None:
        """Watch this station; a station already watched with other IMAP settings or another
        INBOX gets a new connection, one with the same keeps its own."""
        self._post(("watch", station))

    def unwatch(self, code: str) -> None:
        self._post(("unwatch", code))

    def stop(self) -> None:
        self.stopping.set()
        for _ in self.connectors:
            self._to_connect.put(None)
        self._poke()

    def join(self, timeout: float) -> bool:
        """Wait for every thread to end; False if some connector is still stuck connecting."""
        deadline = time.monotonic() + timeout
        for thread in [self.thread, *self.connectors]:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in [self.thread, *self.connectors])

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def _post(self, item: tuple) -> None:
        self._posted.put(item)
        self._poke()

    def _poke(self) -> None:
        try:
            self._interrupter.send(b"\0")
        except OSError:  # the watching thread has ended and closed it
            pass

    # -- connector threads ----------------------------------------------------------------------

    def _connector(self) -> None:
        while (item := self._to_connect.get()) is not None and not self.stopping.is_set():
            station, generation = item
            opened = self._open(station)
            with self._lock:
                if not self.stopping.is_set():
                    self._post(("opened", station.code, generation, opened))
                    continue
            if opened.mailbox is not None:
                opened.mailbox.abandon()

    def _open(self, station: Station) -> _Opened:
        mailbox = Mailbox(station.imap, station.inbox, station.processed_folder)
        opened = _Opened(time.monotonic())
        try:
            mailbox.connect()
            if "IDLE" not in mailbox.capabilities():
                mailbox.close()
                opened.has_idle = False
                return opened
            mailbox.select_inbox()
            opened.sock, opened.buffered = mailbox.idle_socket()
        except Exception as exc:  # noqa: BLE001 - reported by the watching thread
            mailbox.abandon()
            opened.error = exc
            return opened
        opened.mailbox = mailbox
        return opened

    # -- the watching thread --------------------------------------------------------------------

    def _run(self) -> None:
        self._selector.register(self._interrupt, selectors.EVENT_READ)
        try:
            while not self.stopping.is_set():
                events = self._selector.select(self._timeout())
                now = time.monotonic()
                for key, _ in events:
                    if key.fileobj is self._interrupt:
                        self._drain_interrupt()
                    else:
                        self._guarded(key.data, now, self._readable)
                self._take_posted(now)
                self._due(now)
        finally:
            with self._lock:
                self._take_posted(time.monotonic())
            for watch in self._watched.values():
                if watch.session is not None:
                    watch.session.say_goodbye()
                self._drop(watch)
            self._selector.close()
            self._interrupt.close()
            self._interrupter.close()

    def _timeout(self) -> float | None:
        while self._deadlines and self._stale(self._deadlines[0]):
            heapq.heappop(self._deadlines)
        deadlines = [q[0][0] for q in (self._deadlines, self._retries) if q]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _stale(self, entry: tuple[float, int, str]) -> bool:
        watch = self._watched.get(entry[2])
        return watch is None or watch.session is None or watch.scheduled != entry[0]

    def _schedule(self, watch: _Watch) -> None:
        if watch.session is not None and watch.session.deadline != watch.scheduled:
            watch.scheduled = watch.session.deadline
            self._generation += 1  # only the order of equal times
            heapq.heappush(self._deadlines, (watch.scheduled, self._generation,
                                             watch.station.code))

    def _drain_interrupt(self) -> None:
        try:
            while self._interrupt.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _take_posted(self, now: float) -> None:
        while True:
            try:
                kind, *args = self._posted.get_nowait()
            except queue.Empty:
                return
            if kind == "watch":
                self._watch(args[0])
            elif kind == "unwatch":
                self._unwatch(args[0])
            else:
                self._opened(*args, now)

    def _watch(self, station: Station) -> None:
        old = self._watched.get(station.code)
        if old is not None and (old.station.imap, old.station.inbox) == (station.imap,
                                                                           station.inbox):
            old.station = station
            return
        self._unwatch(station.code)
        self._generation += 1
        watch = self._watched[station.code] = _Watch(station, self._generation)
        self._connect(watch)

    def _unwatch(self, code: str) -> None:
        watch = self._watched.pop(code, None)
        if watch is not None:
            if watch.session is not None:
                watch.session.say_goodbye()
            self._drop(watch)

    def _connect(self, watch: _Watch) -> None:
        watch.connecting = True
        self._to_connect.put((watch.station, watch.generation))

    def _retry(self, watch: _Watch, when: float) -> None:
        self._generation += 1  # only the order of equal times
        heapq.heappush(self._retries, (when, self._generation, watch.station.code,
                                       watch.generation))

    def _opened(self, code: str, generation: int, opened: _Opened, now: float) -> None:
        watch = self._watched.get(code)
        if watch is None or watch.generation != generation or self.stopping.is_set():
            if opened.mailbox is not None:  # unwatched meanwhile
                opened.mailbox.abandon()
            return
        watch.connecting = False
        station, exc = watch.station, opened.error
        if exc is not None:
            watch.failures += 1
            delay = PROBE_SECONDS  # a server that cannot be reached: probed this often
            if isinstance(exc, (TemporaryError, PermanentError)):
                log.info("station %s: IDLE watcher: %s", code, exc)
                report_failure(self.outages, station, exc, opened.started)
            else:  # a bug must not end IDLE for good
                log.error("station %s: IDLE watcher failed", code, exc_info=exc)
            if not isinstance(exc, TemporaryError):  # a wrong password stays wrong a while
                delay = backoff(watch.failures - 1, 5).total_seconds()
            self._retry(watch, now + delay)
            return
        if not opened.has_idle:
            log.info("station %s: no IDLE; polling every %ss", code, station.poll_seconds)
            return
        report_success(self.outages, station)
        log.info("station %s: watching INBOX with IDLE", code)
        assert opened.mailbox is not None and opened.sock is not None
        watch.mailbox = opened.mailbox
        with self.changed:
            self.connections[code] = self.connections.get(code, 0) + 1
            self.changed.notify_all()
        try:
            watch.session = IdleSession(opened.sock, opened.buffered, self.idle_seconds,
                                        station.imap.timeout, now)
        except IdleError as exc:
            self._lost(watch, str(exc), now)
            return
        self._selector.register(opened.sock, selectors.EVENT_READ, code)
        self._schedule(watch)
        # What arrived while no connection was idling shows only to a pass.
        self.wake(code, "IDLE connected")
        if opened.buffered:  # select() cannot see what imaplib had read already
            self._guarded(code, now, self._readable)

    def _guarded(self, code: str, now: float, step: Callable[[_Watch, float], None]) -> None:
        watch = self._watched.get(code)
        if watch is None or watch.session is None:
            return
        try:
            step(watch, now)
            self._schedule(watch)
        except IdleError as exc:
            self._lost(watch, str(exc), now)
        except Exception as exc:  # noqa: BLE001 - a bug must not end every station's IDLE
            log.error("station %s: IDLE watcher failed", code, exc_info=exc)
            self._lost(watch, f"{type(exc).__name__}: {exc}", now)

    def _readable(self, watch: _Watch, now: float) -> None:
        session, code = watch.session, watch.station.code
        assert session is not None
        rounds = session.rounds
        news = session.readable(now)
        if session.rounds > rounds:
            watch.failures = 0  # a whole round of IDLE went well
            with self.changed:
                self.renewals[code] = self.renewals.get(code, 0) + session.rounds - rounds
                self.changed.notify_all()
        if session.state == "idling" and code not in self.idling:
            with self.changed:
                self.idling.add(code)
                self.changed.notify_all()
        if news:
            self.wake(code, "IDLE reports new mail")

    def _renew(self, watch: _Watch, now: float) -> None:
        assert watch.session is not None
        if watch.session.deadline <= now:
            watch.session.due(now)

    def _due(self, now: float) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            entry = heapq.heappop(self._deadlines)
            if not self._stale(entry):
                self._guarded(entry[2], now, self._renew)
        while self._retries and self._retries[0][0] <= now:
            _, _, code, generation = heapq.heappop(self._retries)
            watch = self._watched.get(code)
            if watch is not None and watch.generation == generation and not watch.connecting:
                self._connect(watch)

    def _lost(self, watch: _Watch, why: str, now: float) -> None:
        """A connection is no good: close it, wake the station (mail may have come while it
        was going wrong) and connect again, at once unless it keeps failing."""
        code = watch.station.code
        log.info("station %s: IDLE ended (%s); reconnecting", code, why)
        if watch.session is None or not watch.session.rounds:
            watch.failures += 1
        self._drop(watch)
        self.wake(code, "IDLE connection lost")
        self._retry(watch, now + (PROBE_SECONDS if watch.failures > 1 else 0.0))

    def _drop(self, watch: _Watch) -> None:
        if watch.session is not None:
            try:
                self._selector.unregister(watch.session.sock)
            except (KeyError, ValueError):  # never registered, or already closed
                pass
            watch.session = None
        if watch.mailbox is not None:
            watch.mailbox.abandon()
            watch.mailbox = None
        with self.changed:
            self.idling.discard(watch.station.code)
            self.changed.notify_all()
