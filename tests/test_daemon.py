"""The daemon as it runs in production: `python -m maildesk -v run` in a subprocess, against
the session's Dovecot and a SmtpRecorder, driven by signals and followed through its log.

Stations poll every 300 s, so only IMAP IDLE can explain a quick answer. The log (debug
level) says when a watcher connected, why a station was woken, and when each pass started
and ended; tests wait on those lines, never on the clock.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from deskenv import StationAccount, resident_mail, write_config
from servers import Dovecot, MailboxUser, SmtpRecorder

import maildesk.daemon as daemon_module
from maildesk.config.settings import Config, load_config
from maildesk.daemon import Daemon
from maildesk.intake.poll import PassResult
from maildesk.intake.watcher import backoff
from maildesk.store.db import Store

OFFICER = "si.mukherjee@maildesk.test"
DEADLINE = 30  # seconds for any one thing we wait for
POLL_SECONDS = 300


# -- helpers ------------------------------------------------------------------------------------


def station(user: MailboxUser, code: str = "BHL") -> StationAccount:
    return StationAccount(code, user.name, user.password, (OFFICER,), "en")


def write_daemon_config(directory: Path, dovecot: Dovecot, smtp: SmtpRecorder,
                        stations: list[StationAccount],
                        poll_seconds: int = POLL_SECONDS) -> tuple[Path, dict[str, str]]:
    path, env = write_config(directory, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                             stations)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["defaults"]["poll_seconds"] = poll_seconds
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, env


def complaint_mail(i: int, to: str, tag: str = "r") -> bytes:
    return resident_mail(f"resident{i}@example.in", to, f"Streetlight {i} on our lane is broken",
                         f"The streetlight in front of house {i} has been dark for a week.",
                         f"{tag}{i}-{secrets.token_hex(4)}@example.in")


def append_many(dovecot: Dovecot, user: str, mails: list[bytes]) -> None:
    with dovecot.client(user) as imap:  # one connection, not one per mail
        for raw in mails:
            imap.append("INBOX", raw)


class DaemonProcess:
    """`maildesk -v run` in a subprocess; a thread collects its log lines as they come."""

    def __init__(self, config_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MAILDESK_FAULT"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maildesk", "--config", str(config_path), "-v", "run"],
            cwd=config_path.parent, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        )
        self.lines: list[str] = []
        self._eof = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="daemon-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_for(self, pattern: str, after: int = 0, timeout: float = DEADLINE) -> int:
        """Index of the first log line at or after `after` that matches `pattern` (a regex)."""
        regex = re.compile(pattern)

        def find() -> int | None:
            return next((i for i in range(after, len(self.lines))
                         if regex.search(self.lines[i])), None)

        with self._cond:
            self._cond.wait_for(lambda: find() is not None or self._eof, timeout)
            index = find()
            if index is None:
                state = "it exited" if self._eof else f"within {timeout}s"
                raise AssertionError(f"the daemon did not log /{pattern}/ ({state}):\n"
                                     + "\n".join(self.lines[-40:]))
            return index

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = DEADLINE) -> int:
        """SIGTERM; the exit code (TimeoutExpired if it does not exit within `timeout`)."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = DEADLINE) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)  # the whole log is in
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)
        self._reader.join(DEADLINE)

    def count(self, pattern: str) -> int:
        return sum(1 for line in self.lines if re.search(pattern, line))

    def assert_clean(self) -> None:
        """Nothing went wrong at all: no traceback, no task or thread ended badly."""
        bad = re.compile(r"Traceback|Task was destroyed|never retrieved|Exception in|"
                         r"Error running job|raised an exception")
        assert not [line for line in self.lines if bad.search(line)], "\n".join(self.lines)


@contextmanager
def running_daemon(config_path: Path) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(config_path)
    try:
        daemon.wait_for(r"maildesk running")
        yield daemon
    except BaseException:
        print("--- the daemon's log ---", *daemon.lines, sep="\n")  # shown for failed tests
        raise
    finally:
        daemon.kill()  # only if a test failed before stopping it


def settled(daemon: DaemonProcess, code: str, after: int = 0) -> int:
    """Wait until a pass that started after the station's IDLE watcher connected has ended.

    The daemon checks every INBOX at start and again when a watcher connects (a pass then
    running goes round once more); after that, nothing but IDLE (or the 300 s poll job)
    starts a pass for the station. Returns the index of the line that ends that pass.
    """
    connected = daemon.wait_for(rf"station {code}: IDLE connected", after)
    checking = daemon.wait_for(rf"station {code}: checking INBOX", connected)
    return daemon.wait_for(rf"station {code}: INBOX checked", checking)


def run_poll_once(config_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MAILDESK_FAULT"}
    done = subprocess.run(
        [sys.executable, "-m", "maildesk", "--config", str(config_path), "poll", "--once"],
        cwd=config_path.parent, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@contextmanager
def open_store(directory: Path) -> Iterator[Store]:
    store = Store(directory / "data")
    try:
        yield store
    finally:
        store.close()


def to(messages: list, address: str) -> list:
    return [m for m in messages if address in m.rcpt_tos]


# -- the daemon in a subprocess -------------------------------------------------------------------


def test_idle_answers_at_once_and_sigterm_exits_cleanly(tmp_path, dovecot, mailbox_user, smtp):
    bhl = station(mailbox_user)
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [bhl])
    resident = "rina.das@gmail.com"

    with running_daemon(path) as daemon:
        quiet = settled(daemon, "BHL")
        arrived = time.monotonic()
        dovecot.append(bhl.user, resident_mail(resident, bhl.address, "Streetlight broken",
                                               "The streetlight on our lane is dark.",
                                               "idle-1@gmail.com"))
        messages = smtp.wait_for(2, timeout=DEADLINE)
        elapsed = time.monotonic() - arrived
        print(f"\nIDLE: mail appended -> acknowledgement and officers' notification "
              f"received in {elapsed * 1000:.0f} ms (poll interval {POLL_SECONDS} s)")
        # The first pass after the daemon settled was started by IDLE, nothing else.
        first = daemon.wait_for(r"station BHL: (IDLE reports new mail|checking INBOX)", quiet)
        assert "IDLE reports new mail" in daemon.lines[first]
        assert daemon.stop() == 0

    daemon.assert_clean()
    assert daemon.lines[-1].endswith("maildesk stopped")
    assert len(to(messages, resident)) == 1 and len(to(messages, OFFICER)) == 1
    with open_store(tmp_path) as store:
        assert len(store.complaints()) == 1
        assert store.outbox_counts() == {"sent": len(smtp.messages)}
    assert dovecot.folder_uids(bhl.user, "INBOX") == []


def _check_exactly_once(tmp_path: Path, dovecot: Dovecot, smtp: SmtpRecorder,
                        bhl: StationAccount, n: int) -> None:
    assert dovecot.folder_uids(bhl.user, "INBOX") == []
    assert len(dovecot.folder_uids(bhl.user, "maildesk-processed")) == n
    with open_store(tmp_path) as store:
        rows = store.query("SELECT resident_addr, count(*) AS n FROM complaints "
                           "GROUP BY resident_addr")
        assert len(rows) == n and {r["n"] for r in rows} == {1}
        assert store.outbox_counts() == {"sent": len(smtp.messages)}
    acks = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos
                   if rcpt.startswith("resident"))
    assert len(acks) == n and set(acks.values()) == {1}  # every resident answered, once


def _complaints(tmp_path: Path) -> int:
    with open_store(tmp_path) as store:
        return store.one("SELECT count(*) AS n FROM complaints")["n"]  # type: ignore[index]


N_BIG = 300


def test_sigterm_at_the_first_acknowledgement_sends_everything_once(
        tmp_path, dovecot, mailbox_user, smtp):
    bhl = station(mailbox_user)
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [bhl])
    append_many(dovecot, bhl.user, [complaint_mail(i, bhl.address) for i in range(N_BIG)])

    with running_daemon(path) as daemon:
        smtp.wait_for(1, timeout=120)
        at_signal = len(smtp.messages)
        assert daemon.stop(timeout=120) == 0
    daemon.assert_clean()
    sent_by_daemon, taken_by_daemon = len(smtp.messages), _complaints(tmp_path)

    report = run_poll_once(path)

    print(f"\nSIGTERM at the first acknowledgement ({at_signal} mails out by then): the daemon "
          f"took in {taken_by_daemon} and sent {sent_by_daemon} before exiting 0; "
          f"poll --once then: {report.strip().splitlines()[0]}")
    _check_exactly_once(tmp_path, dovecot, smtp, bhl, N_BIG)


def test_sigterm_during_intake_finishes_the_batch_in_hand(tmp_path, dovecot, mailbox_user, smtp):
    bhl = station(mailbox_user)
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [bhl])
    append_many(dovecot, bhl.user, [complaint_mail(i, bhl.address) for i in range(N_BIG)])

    with running_daemon(path) as daemon:
        daemon.wait_for(r"station BHL: checking INBOX")
        assert daemon.stop(timeout=120) == 0
    daemon.assert_clean()
    taken, sent = _complaints(tmp_path), len(smtp.messages)
    # The batch in hand was finished and its mail sent; the rest waits in INBOX.
    assert 0 < taken < N_BIG
    assert len(dovecot.folder_uids(bhl.user, "INBOX")) == N_BIG - taken
    with open_store(tmp_path) as store:
        assert store.outbox_counts() == {"sent": sent}

    report = run_poll_once(path)

    print(f"\nSIGTERM during intake: the daemon took in {taken} mails (a whole batch) and sent "
          f"{sent} before exiting 0; poll --once then: {report.strip().splitlines()[0]}")
    _check_exactly_once(tmp_path, dovecot, smtp, bhl, N_BIG)


def test_sighup_adds_a_station_and_a_broken_file_changes_nothing(
        tmp_path, dovecot, mailbox_user, smtp):
    bhl = station(mailbox_user, "BHL")
    other = dovecot.add_user(f"st{secrets.token_hex(4)}", secrets.token_hex(8))
    lkt = station(other, "LKT")
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [bhl])

    with running_daemon(path) as daemon:
        settled(daemon, "BHL")
        write_daemon_config(tmp_path, dovecot, smtp, [bhl, lkt])
        mark = daemon.mark()
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(r"SIGHUP: configuration reloaded \(2 stations\)", mark)
        quiet = settled(daemon, "LKT", mark)
        dovecot.append(lkt.user, resident_mail("amit@yahoo.co.in", lkt.address, "Bicycle stolen",
                                               "My bicycle was stolen.", "hup-1@yahoo.co.in"))
        messages = smtp.wait_for(2, timeout=DEADLINE)
        assert [m.mail_from for m in to(messages, "amit@yahoo.co.in")] == [lkt.address]
        first = daemon.wait_for(r"station LKT: (IDLE reports new mail|checking INBOX)", quiet)
        assert "IDLE reports new mail" in daemon.lines[first]

        path.write_text("stations: [what was I writing\n", encoding="utf-8")
        mark = daemon.mark()
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(r"SIGHUP: configuration not reloaded, keeping the old one: .*YAML",
                        mark)
        for account, resident in ((bhl, "rina@gmail.com"), (lkt, "mita@gmail.com")):
            dovecot.append(account.user, resident_mail(resident, account.address,
                                                       "Loud music", "Every night.",
                                                       f"hup-{secrets.token_hex(4)}@gmail.com"))
        messages = smtp.wait_for(6, timeout=DEADLINE)
        assert len(to(messages, "rina@gmail.com")) == len(to(messages, "mita@gmail.com")) == 1
        assert daemon.stop() == 0

    daemon.assert_clean()
    # The reload left BHL's IDLE connection alone: its settings did not change.
    assert daemon.count(r"station BHL: watching INBOX with IDLE") == 1
    assert daemon.count(r"station LKT: watching INBOX with IDLE") == 1


def test_a_wrong_password_does_not_hold_up_another_station(
        tmp_path, dovecot, mailbox_user, smtp):
    lkt = station(mailbox_user, "LKT")
    other = dovecot.add_user(f"st{secrets.token_hex(4)}", secrets.token_hex(8))
    bad = StationAccount("BHL", other.name, "wrong-password", (OFFICER,), "en")
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [bad, lkt])

    with running_daemon(path) as daemon:
        daemon.wait_for(r"station BHL: pass failed \(1 in a row\); next try in 0:10:00")
        daemon.wait_for(r"station BHL: IDLE watcher: IMAP login refused")
        quiet = settled(daemon, "LKT")
        arrived = time.monotonic()
        dovecot.append(lkt.user, resident_mail("rina.das@gmail.com", lkt.address, "Theft",
                                               "My phone was stolen.", "bad-pw-1@gmail.com"))
        smtp.wait_for(2, timeout=DEADLINE)
        print(f"\nNext to a station with a wrong password: answered in "
              f"{(time.monotonic() - arrived) * 1000:.0f} ms")
        first = daemon.wait_for(r"station LKT: (IDLE reports new mail|checking INBOX)", quiet)
        assert "IDLE reports new mail" in daemon.lines[first]
        assert daemon.stop() == 0

    daemon.assert_clean()
    with open_store(tmp_path) as store:
        health = {h["station"]: h for h in store.mailbox_health()}
    assert health["BHL"]["failures"] >= 1 and health["LKT"]["failures"] == 0


# -- the daemon's bookkeeping, in process ---------------------------------------------------------


def _config(path: Path, env: dict[str, str]) -> Config:
    return load_config(path, env=env)  # never the process environment: tests share it


def test_backoff_pushes_a_failing_station_later_and_recovery_resets_it(
        tmp_path, dovecot, mailbox_user, smtp):
    wrong = StationAccount("BHL", mailbox_user.name, "wrong-password", (OFFICER,))
    bad = _config(*write_daemon_config(tmp_path / "bad", dovecot, smtp, [wrong], 60))
    good = _config(*write_daemon_config(tmp_path / "bad", dovecot, smtp,
                                        [station(mailbox_user)], 60))

    async def scenario() -> None:
        daemon = Daemon(bad, None)
        daemon.schedule()
        daemon.scheduler.start(paused=True)  # jobs exist but never fire on their own
        try:
            for failures in (1, 2, 3):
                before = datetime.now(bad.timezone)
                daemon.start_pass("BHL")
                await daemon.running["BHL"]
                assert daemon.failures == {"BHL": failures}
                pushed = daemon.scheduler.get_job("poll:BHL").next_run_time - before
                assert backoff(failures, 60) <= pushed < backoff(failures, 60) + timedelta(
                    seconds=DEADLINE)
            assert backoff(20, 60) == timedelta(minutes=15)  # never longer than that

            daemon.desk.config = good  # someone fixed the password (SIGHUP does this)
            job = daemon.scheduler.get_job("poll:BHL")
            daemon.start_pass("BHL")
            await daemon.running["BHL"]
            assert daemon.failures == {}
            # Not pushed again, and after that run the plain interval follows.
            assert daemon.scheduler.get_job("poll:BHL").next_run_time == job.next_run_time
            after = job.trigger.get_next_fire_time(job.next_run_time, job.next_run_time)
            assert after - job.next_run_time == timedelta(seconds=60)
        finally:
            daemon.scheduler.shutdown(wait=False)
            daemon.pool.shutdown()
            daemon.desk.close()

    asyncio.run(scenario())


def test_a_wake_during_a_pass_makes_it_go_round_once_more(tmp_path, monkeypatch):
    config = _config(*write_config(tmp_path, ("127.0.0.1", 1), ("127.0.0.1", 1),
                                   [StationAccount("BHL", "u", "p")]))
    calls: list[str] = []
    started = threading.Semaphore(0)
    release = threading.Event()

    def held_pass(desk, station, stop=None, after_batch=None, quiet=False) -> PassResult:  # noqa: ANN001, E501
        calls.append(station.code)
        started.release()
        assert release.wait(DEADLINE)
        return PassResult(station.code)

    monkeypatch.setattr(daemon_module, "poll_station", held_pass)

    async def scenario() -> None:
        daemon = Daemon(config, None)
        try:
            daemon.start_pass("BHL")
            task = daemon.running["BHL"]
            assert await asyncio.to_thread(started.acquire, timeout=DEADLINE)
            # The pass in hand may have listed INBOX before this mail came: it must go round
            # again, once however many wakes came, and no second pass may run beside it.
            daemon.wake("BHL", "IDLE reports new mail")
            daemon.wake("BHL", "IDLE reports new mail")
            daemon.start_pass("BHL")  # the poll job, at the same moment
            assert list(daemon.running) == ["BHL"] and daemon.wanted == {"BHL"}
            release.set()
            await task
            assert calls == ["BHL", "BHL"] and not daemon.running and not daemon.wanted

            daemon.wake("BHL", "IDLE reports new mail")  # idle: a pass starts at once
            await daemon.running["BHL"]
            assert calls == ["BHL"] * 3
        finally:
            daemon.pool.shutdown()
            daemon.desk.close()

    asyncio.run(scenario())


@pytest.fixture(autouse=True)
def _no_fault(monkeypatch):
    monkeypatch.delenv("MAILDESK_FAULT", raising=False)
