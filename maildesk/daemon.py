"""The daemon: asyncio, driven by APScheduler (the only module importing it).

Each station has a poll job; its IMAP work runs in a worker thread so that a slow or broken
mailbox occupies one thread and never delays another station. Where the server offers IDLE,
a watcher thread per station holds an IDLE connection and wakes that station's job as soon
as mail arrives. The outbox is drained after every intake and every few seconds.
SIGTERM finishes the batch in hand and exits; SIGHUP reloads the configuration.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from maildesk.clock import Clock
from maildesk.config import Config, Station, load_config
from maildesk.desk import Desk
from maildesk.errors import ConfigError, PermanentError, TemporaryError
from maildesk.imap import Mailbox
from maildesk.intake import PassResult, poll_station
from maildesk.send import SendResult, drain_outbox

log = logging.getLogger(__name__)

IDLE_SECONDS = 120  # re-issue IDLE well inside the 29 minutes RFC 2177 allows
LONGEST_BACKOFF = timedelta(minutes=15)


@dataclass
class PollReport:
    passes: list[PassResult] = field(default_factory=list)
    sent: SendResult = field(default_factory=SendResult)


async def poll_once(config: Config, clock: Clock | None = None) -> PollReport:
    """One intake pass over every station (in parallel threads), then drain the outbox."""
    desk = Desk.open(config, clock)
    try:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=min(16, len(config.stations))) as pool:
            passes = await asyncio.gather(*(
                loop.run_in_executor(pool, poll_station, desk, station)
                for station in config.stations
            ))
        return PollReport(list(passes), await drain_outbox(desk))
    finally:
        desk.close()


def backoff(failures: int, interval: int) -> timedelta:
    return min(timedelta(seconds=interval) * (2 ** min(failures, 10)), LONGEST_BACKOFF)


class Daemon:
    def __init__(self, config: Config, config_path: Path | None, clock: Clock | None = None):
        self.config_path = config_path
        self.desk = Desk.open(config, clock)
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=min(32, len(config.stations) + 2),
                                       thread_name_prefix="intake")
        self.scheduler = AsyncIOScheduler(timezone=config.timezone)
        self.failures: dict[str, int] = {}
        self.wanted: set[str] = set()  # stations woken while their pass was running
        self.running: dict[str, asyncio.Task] = {}
        self.watchers: list[threading.Thread] = []
        self.stopped: asyncio.Event | None = None
        self.sending = asyncio.Lock()

    # -- jobs ---------------------------------------------------------------------------------

    async def poll(self, code: str) -> None:
        """The scheduler's job: start a pass in a task of our own, so that shutting the
        scheduler down never cancels a pass or a send half-way."""
        if self.stop.is_set():
            return
        if code in self.running:
            self.wanted.add(code)  # the pass in hand may have listed INBOX before it arrived
            return
        self.running[code] = asyncio.create_task(self._poll_station(code))

    async def _poll_station(self, code: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.wanted.discard(code)
                station = self.desk.config.station(code)
                result = await loop.run_in_executor(self.pool, poll_station, self.desk,
                                                    station, self.stop)
                self._after_pass(station, result)
                if result.fetched:
                    await self.send()
                if code not in self.wanted or self.stop.is_set() or result.error:
                    break
        except Exception:  # noqa: BLE001 - the runner loop: log, and the next run tries again
            log.exception("station %s: pass failed unexpectedly", code)
        finally:
            self.running.pop(code, None)

    async def send_job(self) -> None:
        """The scheduler's outbox job; the drain runs in a task of our own (see poll)."""
        if not self.stop.is_set() and not self.sending.locked():
            task = asyncio.create_task(self.send())
            self.running[f"outbox-{id(task)}"] = task
            task.add_done_callback(lambda t: self.running.pop(f"outbox-{id(t)}", None))

    def _after_pass(self, station: Station, result: PassResult) -> None:
        job = self.scheduler.get_job(f"poll:{station.code}")
        if result.error:
            failures = self.failures.get(station.code, 0) + 1
            self.failures[station.code] = failures
            delay = backoff(failures, station.poll_seconds)
            log.warning("station %s: pass failed (%d in a row); next try in %s",
                        station.code, failures, delay)
            if job:
                job.modify(next_run_time=datetime.now(self.config.timezone) + delay)
            return
        if self.failures.pop(station.code, 0):
            log.info("station %s: mailbox reachable again", station.code)
        if result.fetched:
            log.info("station %s: %d mails taken in (%s)", station.code, result.fetched,
                     dict(result.kinds))

    async def send(self) -> None:
        # One drain at a time: two drains reading the same due rows would send them twice.
        async with self.sending:
            result = await drain_outbox(self.desk)
        if result.sent or result.failed:
            log.info("outbox: %d sent, %d to retry, %d failed", result.sent, result.retrying,
                     result.failed)

    def wake(self, code: str) -> None:
        """Called (thread-safely) when IDLE says a station has mail: poll it now."""
        job = self.scheduler.get_job(f"poll:{code}")
        if code in self.running:
            self.wanted.add(code)
        elif job is not None:
            job.modify(next_run_time=datetime.now(self.config.timezone))

    # -- IDLE watchers ------------------------------------------------------------------------

    def watch(self, station: Station, loop: asyncio.AbstractEventLoop) -> None:
        """Hold an IDLE connection; wake the poll job when the server reports anything."""
        failures = 0
        while not self.stop.is_set():
            mailbox = Mailbox(station.imap, station.inbox, station.processed_folder)
            try:
                mailbox.connect()
                if "IDLE" not in mailbox.capabilities():
                    log.info("station %s: no IDLE; polling every %ss", station.code,
                             station.poll_seconds)
                    return
                mailbox.select_inbox()
                failures = 0
                while not self.stop.is_set() and mailbox.client is not None:
                    if mailbox.wait_for_mail(timeout=IDLE_SECONDS) and not self.stop.is_set():
                        try:
                            loop.call_soon_threadsafe(self.wake, station.code)
                        except RuntimeError:  # the loop closed: the daemon is stopping
                            return
            except (TemporaryError, PermanentError) as exc:
                failures += 1
                log.info("station %s: IDLE watcher: %s", station.code, exc)
            finally:
                mailbox.close()
            # Waiting on the stop event is the backoff: it also ends at once on SIGTERM.
            self.stop.wait(backoff(failures, 5).total_seconds())

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.desk.config

    def schedule(self) -> None:
        now = datetime.now(self.config.timezone)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:"):
                job.remove()
        for station in self.config.stations:
            self.scheduler.add_job(self.poll, "interval", seconds=station.poll_seconds,
                                   args=[station.code], id=f"poll:{station.code}",
                                   next_run_time=now, max_instances=1, coalesce=True,
                                   misfire_grace_time=None)
        if not self.scheduler.get_job("outbox"):
            self.scheduler.add_job(self.send_job, "interval", seconds=15, id="outbox",
                                   max_instances=1, coalesce=True, misfire_grace_time=None)

    def reload(self) -> None:
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("SIGHUP: configuration not reloaded, keeping the old one: %s", exc)
            return
        self.desk.config = config
        self.schedule()
        log.info("SIGHUP: configuration reloaded (%d stations)", len(config.stations))

    def request_stop(self) -> None:
        """SIGTERM: finish the batch in hand, send what is queued, exit."""
        log.info("stopping: finishing the mail in hand")
        self.stop.set()
        if self.stopped is not None:
            self.stopped.set()

    async def run(self, signals: bool = True) -> int:
        loop = asyncio.get_running_loop()
        self.stopped = stopped = asyncio.Event()
        if self.stop.is_set():
            stopped.set()
        if signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.schedule()
        self.scheduler.start()
        for station in self.config.stations:
            if station.use_idle:
                thread = threading.Thread(target=self.watch, args=(station, loop),
                                          name=f"idle-{station.code}", daemon=True)
                thread.start()
                self.watchers.append(thread)
        log.info("maildesk running: %d stations", len(self.config.stations))
        await stopped.wait()
        self.scheduler.shutdown(wait=False)
        while self.running:  # the passes in hand finish their batch (they see self.stop)
            await asyncio.gather(*self.running.values(), return_exceptions=True)
        await self.send()
        self.pool.shutdown(wait=True)
        # IDLE watchers hold no state worth finishing: they are daemon threads and end
        # with the process.
        self.desk.close()
        log.info("maildesk stopped")
        return 0


async def run_daemon(config: Config, config_path: Path | None) -> int:
    return await Daemon(config, config_path).run()
