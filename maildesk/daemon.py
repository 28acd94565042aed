"""The daemon: asyncio, driven by APScheduler (the only module importing it).

Each station has a poll job; its IMAP work runs in a worker thread so that a slow or broken
mailbox occupies one thread and never delays another station. Where the server offers IDLE,
the station's IDLE connection (one thread watches them all, intake/watcher.py) starts a pass
as soon as mail arrives. The outbox is drained after every intake and every few seconds. The
event loop never touches the database itself: store work runs in threads.

Outages (outages.py) are logged once when they begin and once when they end. While a mailbox
or an SMTP server cannot be reached it is probed every PROBE_SECONDS with a bare TCP connect,
and the waiting work goes as soon as it answers; only a refused login waits longer (backoff).
SIGTERM finishes the batch in hand, sends what is queued and exits; SIGHUP reloads the
configuration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from maildesk import metrics
from maildesk.clock import Clock
from maildesk.config.settings import Config, Station, load_config
from maildesk.desk import Desk
from maildesk.errors import ConfigError, PermanentError, TemporaryError, disk_full
from maildesk.heartbeat import Heartbeat
from maildesk.intake.poll import PassResult, poll_station
from maildesk.intake.watcher import Watchers, backoff, report_failure, report_success
from maildesk.mail.send import DrainWhileTakingIn, SendResult, drain_outbox, server_key
from maildesk.outages import PROBE_SECONDS, Outages, reachable
from maildesk.reports.digest import latest_day, queue_digest
from maildesk.sd_notify import notify, watchdog_seconds
from maildesk.sweeps.escalate import sweep
from maildesk.sweeps.mailbox_incidents import check_mailboxes
from maildesk.sweeps.retention import apply_retention

log = logging.getLogger(__name__)

SWEEP_SECONDS = 120  # escalations are in minutes and hours: a sweep every 2 minutes is plenty
WATCHERS_LOG_OUT_SECONDS = 10  # at exit; a watcher stuck in connect() is left behind
DISK = "disk"  # the outage key of a full data directory
DISK_ROOM = 1024 * 1024  # free bytes before intake tries again: a mail and its rows fit


@dataclass
class PollReport:
    passes: list[PassResult] = field(default_factory=list)
    sent: SendResult = field(default_factory=SendResult)


async def poll_once(config: Config, clock: Clock | None = None,
                    progress: Callable[[str, int, int], None] | None = None) -> PollReport:
    """One intake pass over every station (in parallel threads), the outbox draining after
    each committed batch, and once more at the end. `progress(station, done, total)` is
    told, from the intake threads, after each batch."""
    desk = Desk.open(config, clock, intake=True)
    try:
        loop = asyncio.get_running_loop()
        sending = DrainWhileTakingIn(desk)

        def after_batch() -> None:
            loop.call_soon_threadsafe(sending.kick)

        def one_pass(station: Station) -> PassResult:
            told = None if progress is None else partial(progress, station.code)
            return poll_station(desk, station, None, after_batch, progress=told)

        try:
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(config.stations)))) as pool:
                passes = await asyncio.gather(*(
                    loop.run_in_executor(pool, one_pass, station) for station in config.stations
                ))
        finally:
            sent = await sending.finish()  # what intake committed goes out, even after an error
        return PollReport(list(passes), sent)
    finally:
        desk.close()


class Daemon:
    def __init__(self, config: Config, config_path: Path | None, clock: Clock | None = None):
        self.config_path = config_path
        self.desk = Desk.open(config, clock, intake=True)
        self.stop = threading.Event()
        # Sized for the configuration after any SIGHUP, not this one; threads start on demand.
        self.pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="intake")
        self.scheduler = AsyncIOScheduler(timezone=config.timezone)
        self.failures: dict[str, int] = {}
        self.wanted: set[str] = set()  # stations woken while their pass was running
        self.running: dict[str, asyncio.Task] = {}
        self.watchers: Watchers | None = None  # started with the loop: it wakes stations
        self.watched: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped: asyncio.Event | None = None
        # The outbox drains each station on its own (a quiet station's acknowledgement never
        # waits for another station's backlog), at most one drain per station, and all of
        # them share one window: at most one mail accepted but not recorded at a crash.
        self.draining: dict[str, asyncio.Task] = {}
        self.drain_again: set[str] = set()  # stations asked for while their drain ran
        self.window = asyncio.Lock()
        self.heartbeat = Heartbeat()
        self.watchdog_task: asyncio.Task | None = None
        self.outages = Outages()
        self.probes: dict[str, asyncio.Task] = {}  # what is down, being probed
        self.disk_waiting: set[str] = set()  # stations whose pass stopped on a full disk

    @property
    def config(self) -> Config:
        return self.desk.config

    # -- passes -------------------------------------------------------------------------------

    async def poll(self, code: str) -> None:
        """The scheduler's job."""
        self.start_pass(code)

    def start_pass(self, code: str) -> None:
        """Start a pass in a task of our own (not the scheduler's: shutting the scheduler down
        must never cancel a pass or a send half-way). If one is running, it goes round once
        more: it may have listed INBOX before the new mail arrived."""
        if self.stop.is_set():
            return
        if code in self.running:
            self.wanted.add(code)
        else:
            self.running[code] = asyncio.create_task(self._poll_station(code))

    def wake(self, code: str, why: str) -> None:
        """A station's IDLE watcher says it may have mail (on the loop, see _wake_soon)."""
        log.debug("station %s: %s", code, why)
        self.start_pass(code)

    def _wake_soon(self, code: str, why: str) -> None:
        """`wake`, for watcher threads."""
        try:
            self.loop.call_soon_threadsafe(self.wake, code, why)  # type: ignore[union-attr]
        except RuntimeError:  # the loop has closed: the daemon is stopping
            pass

    async def _poll_station(self, code: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self.stop.is_set():
                self.wanted.discard(code)
                try:
                    station = self.config.station(code)
                except KeyError:  # no longer configured (SIGHUP)
                    return
                log.debug("station %s: checking INBOX", code)
                result = await loop.run_in_executor(
                    self.pool, self._pass_in_thread, station, loop)
                log.debug("station %s: INBOX checked, %d taken in", code, result.fetched)
                self._after_pass(station, result)
                # Its batches were sent by after_batch's drains: the pass goes round again
                # at once for the mail that arrived meanwhile, without waiting for them.
                if code not in self.wanted or result.error:
                    return
        except Exception as exc:  # noqa: BLE001 - the runner loop: log, the next run tries again
            if disk_full(exc):
                self._disk_full(code)
            else:
                log.exception("station %s: pass failed unexpectedly", code)
        finally:
            self.running.pop(code, None)

    def _pass_in_thread(self, station: Station, loop: asyncio.AbstractEventLoop) -> PassResult:
        """In an intake thread: the pass, beating the heartbeat after every batch."""
        with self.heartbeat.working(f"station {station.code}") as beat:
            def after_batch() -> None:
                beat()
                loop.call_soon_threadsafe(self.start_send)

            return poll_station(self.desk, station, self.stop, after_batch, quiet=True)

    def _after_pass(self, station: Station, result: PassResult) -> None:
        job = self.scheduler.get_job(f"poll:{station.code}")
        if result.error:
            metrics.ERRORS.labels(station.code, "intake").inc()
            failures = self.failures.get(station.code, 0) + 1
            self.failures[station.code] = failures
            error = PermanentError(result.error) if result.refused else TemporaryError(
                result.error)
            report_failure(self.outages, station, error)
            if not result.refused:  # unreachable: probe it, go the moment it answers
                self._probe(f"imap:{station.code}", self._probe_mailbox(station.code))
                return
            delay = backoff(failures, station.poll_seconds)
            log.info("station %s: pass failed (%d in a row); next try in %s",
                     station.code, failures, delay)
            if job is not None and not self.stop.is_set():
                # After this run the interval counts on from there: back to the usual rhythm.
                job.modify(next_run_time=datetime.now(self.config.timezone) + delay)
            return
        metrics.TAKEN_IN.labels(station.code).inc(result.fetched)
        self.failures.pop(station.code, 0)
        report_success(self.outages, station)
        if result.fetched:
            log.info("station %s: %d mails taken in (%s)", station.code, result.fetched,
                     dict(result.kinds))

    # -- probes: what is down is tried often and cheaply -----------------------------------------

    def _probe(self, name: str, probe: Coroutine[Any, Any, None]) -> None:
        if self.stop.is_set() or name in self.probes:
            probe.close()
            return
        task = asyncio.create_task(probe)
        self.probes[name] = task
        task.add_done_callback(lambda _: self.probes.pop(name, None))

    async def _probe_mailbox(self, code: str) -> None:
        """A station's mailbox server could not be reached: a pass as soon as it answers."""
        while not self.stop.is_set():
            await asyncio.sleep(PROBE_SECONDS)  # the rhythm of the probe
            try:
                station = self.config.station(code)
            except KeyError:
                return
            if await reachable(station.imap.host, station.imap.port):
                log.debug("station %s: IMAP server answers a connect; checking INBOX", code)
                self.start_pass(code)
                return

    def _disk_full(self, code: str) -> None:
        """The data directory is full: the pass stopped before its mail was stored, so the
        mail is still in the INBOX. Say so once, and try again as soon as there is room."""
        self.disk_waiting.add(code)
        self.outages.begin(DISK, f"disk full under {self.config.data_dir}; mail waits "
                           f"in the INBOX (station {code}); free some space, maildesk "
                           f"looks every {PROBE_SECONDS:g} s")
        self._probe("disk", self._probe_disk())

    async def _probe_disk(self) -> None:
        while not self.stop.is_set() and self.disk_waiting:
            await asyncio.sleep(PROBE_SECONDS)  # the rhythm of the probe
            if shutil.disk_usage(self.config.data_dir).free < DISK_ROOM:
                continue
            waiting, self.disk_waiting = self.disk_waiting, set()
            self.outages.end(DISK, f"disk: {self.config.data_dir} has room again")
            for code in sorted(waiting):
                self.start_pass(code)

    async def _probe_smtp(self) -> None:
        """Some SMTP server took no mail: a drain as soon as one of them answers a connect
        (a server answering 4xx to everything answers too: the drain then tries one mail)."""
        while not self.stop.is_set() and self.outages.down("smtp "):
            await asyncio.sleep(PROBE_SECONDS)  # the rhythm of the probe
            servers = {server_key(s.smtp): s.smtp for s in self.config.stations}
            for key in self.outages.down("smtp "):
                server = servers.get(key)
                if server is not None and await reachable(server.host, server.port):
                    log.debug("outbox: %s answers a connect; draining", key)
                    await self.send()
                    break

    # -- the outbox -----------------------------------------------------------------------------

    async def send_job(self) -> None:
        """The scheduler's outbox job."""
        self.start_send()

    def start_send(self) -> None:
        """Drain the outbox in a task of our own (see start_pass)."""
        if not self.stop.is_set():
            task = asyncio.create_task(self.send())
            self.running[f"outbox-{id(task)}"] = task
            task.add_done_callback(lambda t: self.running.pop(f"outbox-{id(t)}", None))

    async def send(self) -> None:
        """Drain every station with mail due, each in its own drain; return when they are
        done. A station whose drain is running is drained once more after it: the drain may
        have read its rows before the new mail was queued."""
        try:
            codes = await asyncio.to_thread(self.desk.store.due_stations)
        except Exception:  # noqa: BLE001 - the rows stay pending for the next drain
            log.exception("outbox: reading what is due failed")
            return
        drains = []
        for code in codes:
            task = self.draining.get(code)
            if task is None:
                task = self.draining[code] = asyncio.create_task(self._drain_station(code))
            else:
                self.drain_again.add(code)
            drains.append(task)
        await asyncio.gather(*drains)
        if self.outages.down("smtp "):
            self._probe("smtp", self._probe_smtp())

    async def _drain_station(self, code: str) -> None:
        # Never two drains of one station: two drains reading the same due rows would send
        # them twice. self.draining names this one until it returns.
        try:
            while True:
                self.drain_again.discard(code)
                try:
                    result = await drain_outbox(self.desk, outages=self.outages,
                                                stations=[code], window=self.window)
                except Exception:  # noqa: BLE001 - the rows stay pending for the next drain
                    log.exception("outbox: drain of station %s failed", code)
                    return
                if result.sent or result.failed:
                    log.info("outbox: %d sent, %d to retry, %d failed (station %s)",
                             result.sent, result.retrying, result.failed, code)
                if code not in self.drain_again or result.down:
                    return  # a server that is down is the probe's (_probe_smtp)
        finally:
            if self.draining.get(code) is asyncio.current_task():
                del self.draining[code]

    # -- escalation, mailbox health and the morning digest ---------------------------------------

    async def sweep_job(self) -> None:
        """Every SWEEP_SECONDS: what is late, which mailbox is in trouble, whose digest is
        due. Each of them remembers what it sent, so running it often never repeats a mail."""
        if self.stop.is_set() or "sweep" in self.running:
            return
        task = asyncio.create_task(self._sweep())
        self.running["sweep"] = task
        task.add_done_callback(lambda _: self.running.pop("sweep", None))

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            sent = await loop.run_in_executor(self.pool, self._sweep_now)
        except Exception:  # noqa: BLE001 - the runner loop: the next sweep tries again
            log.exception("escalation sweep failed")
            return
        if sent:
            await self.send()

    def _sweep_now(self) -> int:
        desk = self.desk
        swept, health = sweep(desk), check_mailboxes(desk)
        apply_retention(desk)
        digests = 0
        for zone in self.config.zones:
            try:
                digests += queue_digest(desk, zone.code, latest_day(desk))
            except ValueError:  # not due yet
                continue
        if swept.sent or health.alerts or digests:
            log.info("sweep: %d alerts, %d mailbox alerts, %d digests queued",
                     len(swept.sent), len(health.alerts), digests)
        return len(swept.sent) + len(health.alerts) + digests

    # -- the systemd watchdog ------------------------------------------------------------------

    async def watchdog(self, interval: float) -> None:
        """Ping systemd twice per interval, from the event loop (a stuck loop stops the pings)
        and only while the intake threads are alive (see heartbeat.py)."""
        while not self.stop.is_set():
            self.heartbeat.probe_sent()
            self.pool.submit(self.heartbeat.probe)
            problems = self.heartbeat.problems(interval)
            if problems:
                log.error("watchdog: not pinging systemd: %s", "; ".join(problems))
            else:
                notify("WATCHDOG=1")
                log.debug("watchdog: ping")
            await asyncio.sleep(interval / 2)  # the rhythm of the pings, not a synchronisation

    # -- life cycle -----------------------------------------------------------------------------

    def schedule(self) -> None:
        """A poll job per station (first run after one interval: run and reload start a pass
        themselves) and the outbox job."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:"):
                job.remove()
        for station in self.config.stations:
            self.scheduler.add_job(self.poll, "interval", seconds=station.poll_seconds,
                                   args=[station.code], id=f"poll:{station.code}",
                                   max_instances=1, coalesce=True, misfire_grace_time=None)
        if not self.scheduler.get_job("outbox"):
            self.scheduler.add_job(self.send_job, "interval", seconds=15, id="outbox",
                                   max_instances=1, coalesce=True, misfire_grace_time=None)
        if not self.scheduler.get_job("sweep"):
            self.scheduler.add_job(self.sweep_job, "interval", seconds=SWEEP_SECONDS,
                                   id="sweep", max_instances=1, coalesce=True,
                                   misfire_grace_time=None)

    def watch(self) -> None:
        """Watch every station that wants IDLE (new IMAP settings, a new connection)."""
        if self.watchers is None:
            self.watchers = Watchers(self._wake_soon, self.outages)
            self.watchers.start()
        wanted = {s.code: s for s in self.config.stations if s.use_idle}
        for code in self.watched - wanted.keys():
            self.watchers.unwatch(code)
        for station in wanted.values():
            self.watchers.watch(station)
        self.watched = set(wanted)

    def start_all(self) -> None:
        """Check every INBOX now, then watch: a pass started before its watcher connects,
        so the watcher's first wake finds it running or done, never pending."""
        for station in self.config.stations:
            self.start_pass(station.code)
        self.watch()

    def reload(self) -> None:
        if self.stop.is_set():
            return
        try:
            config = load_config(self.config_path, reload=True)
        except ConfigError as exc:
            log.error("SIGHUP: configuration not reloaded, keeping the old one: %s", exc)
            return
        if config.data_dir != self.config.data_dir:
            log.warning("SIGHUP: data_dir changes only with a restart; still using %s",
                        self.config.data_dir)
        notify("RELOADING=1")
        self.desk.config = config
        self.schedule()
        self.start_all()
        log.info("SIGHUP: configuration reloaded (%d stations)", len(config.stations))
        notify("READY=1", f"STATUS=running: {len(config.stations)} stations")

    def request_stop(self) -> None:
        """SIGTERM: finish the batch in hand, send what is queued, exit. A second signal
        ends the process at once: what was committed is safe, and what was not is still in
        the INBOX or the outbox for the next start."""
        if self.stop.is_set():
            log.warning("second stop signal: exiting now")
            os._exit(1)
        log.info("stopping: finishing the mail in hand")
        notify("STOPPING=1", "STATUS=stopping: finishing the mail in hand")
        self.stop.set()
        if self.watchers is not None:
            self.watchers.stop()
        if self.stopped is not None:
            self.stopped.set()

    async def run(self, signals: bool = True) -> int:
        self.loop = loop = asyncio.get_running_loop()
        self.stopped = stopped = asyncio.Event()
        if self.stop.is_set():
            stopped.set()
        if signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        stop_metrics = None
        if self.config.metrics_port:
            try:
                stop_metrics = metrics.serve(self.config.metrics_port, self.desk)
            except OSError as exc:  # the port is taken: mail matters more than metrics
                log.error("metrics: cannot listen on 127.0.0.1:%d: %s",
                          self.config.metrics_port, exc)
        self.schedule()
        self.scheduler.start()
        self.start_all()
        log.info("maildesk running: %d stations", len(self.config.stations))
        notify("READY=1", f"STATUS=running: {len(self.config.stations)} stations")
        interval = watchdog_seconds()
        if interval is not None:
            log.info("watchdog: pinging systemd every %.1fs", interval / 2)
            self.watchdog_task = asyncio.create_task(self.watchdog(interval))
        await stopped.wait()
        if self.watchdog_task is not None:
            # After STOPPING=1 systemd no longer expects pings: TimeoutStopSec applies.
            self.watchdog_task.cancel()
            await asyncio.gather(self.watchdog_task, return_exceptions=True)
        # Paused, not shut down: shutting down cancels job runs already handed to asyncio,
        # which APScheduler reports as errors. The runs in hand see self.stop and return.
        self.scheduler.pause()
        for probe in list(self.probes.values()):
            probe.cancel()
        await asyncio.gather(*self.probes.values(), return_exceptions=True)
        while self.running:  # the passes in hand finish their batch and send it
            await asyncio.gather(*self.running.values(), return_exceptions=True)
        await self.send()  # anything else due
        self.scheduler.shutdown(wait=False)
        self.pool.shutdown(wait=True)
        self._join_watchers()
        if stop_metrics is not None:
            stop_metrics()
        self.desk.close()
        log.info("maildesk stopped")
        return 0

    def _join_watchers(self) -> None:
        """Watchers were told to stop and log out; wait for them, within reason. A watcher
        still connecting to a hanging server is a daemon thread and ends with the process."""
        if self.watchers is None:
            return
        self.watchers.stop()
        if not self.watchers.join(WATCHERS_LOG_OUT_SECONDS):
            log.warning("IDLE watchers: one is still connecting; leaving it")


async def run_daemon(config: Config, config_path: Path | None) -> int:
    return await Daemon(config, config_path).run()
