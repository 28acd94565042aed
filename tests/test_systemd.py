"""Running under systemd: the notify protocol over a real unix datagram socket standing in
for systemd's, the daemon's READY / WATCHDOG / STOPPING messages, no pings while an intake
thread hangs, and the unit file checked by systemd-analyze."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_daemon import DEADLINE, DaemonProcess, station, write_daemon_config
from walkthrough import analyze_unit

from maildesk.heartbeat import Heartbeat
from maildesk.sd_notify import notify, watchdog_seconds

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "maildesk.service"


class NotifySocket:
    """What systemd listens on: a unix datagram socket; `next()` is the next message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(DEADLINE)

    def next(self) -> dict[str, str]:
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines())

    def until(self, name: str) -> list[dict[str, str]]:
        """Messages up to and including the first that carries `name`."""
        seen = []
        while not seen or name not in seen[-1]:
            seen.append(self.next())
        return seen

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path / "notify")
    try:
        yield listener
    finally:
        listener.close()


# -- the protocol -------------------------------------------------------------------------------

def test_notify_sends_one_datagram_of_fields(notify_socket):
    env = {"NOTIFY_SOCKET": str(notify_socket.path)}
    assert notify("READY=1", "STATUS=running: 3 stations", env=env)
    assert notify_socket.next() == {"READY": "1", "STATUS": "running: 3 stations"}


def test_notify_reaches_an_abstract_socket():
    name = f"maildesk-test-{os.getpid()}-{threading.get_ident()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(DEADLINE)
        assert notify("WATCHDOG=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"


def test_notify_never_waits_on_a_receiver_that_does_not_read(notify_socket):
    env = {"NOTIFY_SOCKET": str(notify_socket.path)}
    sent = [notify("WATCHDOG=1", env=env) for _ in range(5000)]  # far past the queue's room
    assert sent[0] and not sent[-1]


def test_notify_outside_systemd_or_with_systemd_gone_does_nothing(tmp_path):
    assert notify("READY=1", env={}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}) is False


def test_watchdog_interval_is_for_this_process_only():
    mine = {"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_seconds(mine) == 2.5
    assert watchdog_seconds({"WATCHDOG_USEC": "2500000"}) == 2.5
    assert watchdog_seconds({**mine, "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_seconds({}) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "soon"}) is None


def test_heartbeat_sees_a_stuck_pass_and_a_pool_that_runs_nothing():
    now = [0.0]
    heartbeat = Heartbeat(clock=lambda: now[0])
    with heartbeat.working("station BHL") as beat:
        now[0] = 50.0
        beat()
        now[0] = 100.0
        assert heartbeat.problems(60) == []
        now[0] = 111.0
        assert heartbeat.problems(60) == ["station BHL without progress for 61s"]
    assert heartbeat.problems(60) == []  # the pass ended
    heartbeat.probe_sent()
    now[0] = 150.0
    heartbeat.probe_sent()  # a second probe does not restart the count
    now[0] = 172.0
    assert heartbeat.problems(60) == ["the intake pool ran nothing for 172s"]
    heartbeat.probe()
    assert heartbeat.problems(60) == []


# -- the daemon ---------------------------------------------------------------------------------

def test_daemon_says_ready_pings_and_says_stopping(tmp_path, dovecot, mailbox_user, smtp,
                                                  notify_socket, monkeypatch):
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [station(mailbox_user)])
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_socket.path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    daemon = DaemonProcess(path)
    try:
        first = notify_socket.next()
        assert first == {"READY": "1", "STATUS": "running: 1 stations"}
        assert notify_socket.until("WATCHDOG")[-1] == {"WATCHDOG": "1"}
        assert notify_socket.until("WATCHDOG")[-1] == {"WATCHDOG": "1"}
        daemon.signal(signal.SIGHUP)
        reload = notify_socket.until("READY")
        assert {"RELOADING": "1"} in reload
        assert daemon.stop() == 0
        assert "STOPPING" in notify_socket.until("STOPPING")[-1]
    finally:
        daemon.kill()
    daemon.assert_clean()


class SilentImap:
    """Accepts IMAP connections and never says a word: a pass hangs in connect()."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.conns.append(conn)

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        except OSError:  # closed already
            pass
        self.listener.close()
        for conn in self.conns:
            conn.close()  # the hung client sees the end of the connection and gives up
        self.thread.join(DEADLINE)


def test_no_ping_while_an_intake_thread_hangs(tmp_path, dovecot, mailbox_user, smtp,
                                              notify_socket, monkeypatch):
    server = SilentImap()
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [station(mailbox_user)])
    data = yaml.safe_load(path.read_text())
    data["stations"][0]["imap"].update(port=server.port, timeout_seconds=3600)
    data["stations"][0]["idle"] = False
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_socket.path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    daemon = DaemonProcess(path)
    try:
        daemon.wait_for("maildesk running")
        refused = daemon.wait_for(r"watchdog: not pinging systemd: station BHL without progress")
        again = daemon.wait_for(r"watchdog: not pinging systemd", refused + 1)
        # Each tick logs either its ping or its refusal: no ping between two refusals.
        assert not [line for line in daemon.lines[refused:again] if "watchdog: ping" in line]
        assert notify_socket.next()["READY"] == "1"
        server.close()  # the pass ends; so does the daemon, cleanly
        daemon.wait_for(r"outage: .*BHL|station BHL: pass failed", refused)
        assert daemon.stop() == 0
    except BaseException:
        print("--- the daemon's log ---", *daemon.lines, sep="\n")
        raise
    finally:
        server.close()
        daemon.kill()


# -- the unit file ------------------------------------------------------------------------------

def test_unit_file_verifies_and_is_hardened(tmp_path):
    if shutil.which("systemd-analyze") is None and not os.environ.get("CI"):
        pytest.skip("systemd-analyze is missing: apt-get install systemd (scripts/test does)")
    # verify checks that ExecStart exists: point it at this checkout's maildesk.
    unit = tmp_path / "maildesk.service"
    maildesk = Path(sys.executable).parent / "maildesk"
    unit.write_text(UNIT.read_text().replace("/opt/maildesk/.venv/bin/maildesk", str(maildesk)))

    def check(ok: object, what: str) -> None:
        assert ok, what

    score = analyze_unit(unit, check, say=lambda text: None)
    print(f"\nsystemd-analyze security --offline=yes: {score}")
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "User=maildesk", "StateDirectory=maildesk",
                 "EnvironmentFile=/etc/maildesk/maildesk.env", "NotifyAccess=main"):
        assert re.search(rf"(?m)^{re.escape(line)}", text), line
