"""docs/deploy.md followed step by step on this machine, where systemd is not PID 1.

Every step of the guide is done as written, under a scratch root standing in for `/`:
a fresh venv with `pip install` of the program in `opt/maildesk`, the configuration in
`etc/maildesk` (root-owned, group `maildesk`), the environment file (root only), the state
directory with the unit's permissions, and the daemon started as systemd starts it: the
unit's ExecStart, its User=, UMask=, working directory `/`, the EnvironmentFile= read by the
parent, NOTIFY_SOCKET and WATCHDOG_USEC set, the notify socket read here. Then the checks
that stand in for `systemctl status` / `is-active`, a reload with a broken and then a good
stations.yaml, and a backup taken while mail keeps arriving, restored as
docs/operations.md says.

tests/test_deploy.py runs it against the session's Dovecot and SMTP recorder. Run on its
own, it starts its own and prints the evidence (as root, like the guide, it adds the system
user `maildesk` with adduser):

    .venv/bin/python tests/walkthrough.py
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from deskenv import StationAccount, resident_mail, write_config
from servers import Dovecot, SmtpRecorder
from test_daemon import DEADLINE, DaemonProcess

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "maildesk.service"
USER = "maildesk"
# The unit's WatchdogSec=300 would mean a ping every 150 s; a drop-in shortens it here, as
# `systemctl edit maildesk` would, so that pings are seen within the walkthrough.
WATCHDOG_SEC = 2
PROCESSED = "maildesk-processed"


def until(what: str, condition: Callable[[], object], timeout: float = DEADLINE) -> object:
    """Wait for `condition` to hold (its value), checking it often, for at most `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)  # re-check the condition; the deadline bounds the wait


class Notifications:
    """systemd's notify socket: a unix datagram socket any service may write to (0777, as
    /run/systemd/notify), its messages collected by a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o777)
        self.messages: list[dict[str, str]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096).decode()
            except OSError:  # closed
                return
            self.messages.append(dict(line.split("=", 1) for line in data.splitlines()))

    def after(self, start: int, name: str) -> list[dict[str, str]]:
        return [m for m in self.messages[start:] if name in m]

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(DEADLINE)


class Service(DaemonProcess):
    """The daemon as systemd runs it (see the module's docstring); its log is the journal."""

    def __init__(self, argv: list[str], env: dict[str, str], as_user: dict) -> None:
        self.proc = subprocess.Popen(
            argv, env=env, cwd="/", umask=0o077, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            **as_user)
        self.lines: list[str] = []
        self._eof = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="journal", daemon=True)
        self._reader.start()


def analyze_unit(unit: Path, check: Callable[[object, str], None],
                 say: Callable[[str], None] = print) -> float:
    """`systemd-analyze verify` and `security --offline=yes` on a unit file; its score."""
    analyze = shutil.which("systemd-analyze")
    check(analyze, "systemd-analyze is there (Debian's systemd package)")
    assert analyze is not None
    verify = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=120)
    say(f"$ systemd-analyze verify {unit}\n{verify.stdout}{verify.stderr}"
        f"(exit {verify.returncode})")
    check(verify.returncode == 0 and not verify.stderr.strip(), "the unit verifies")
    security = subprocess.run([analyze, "security", "--offline=yes", str(unit)],
                              capture_output=True, text=True, timeout=120)
    say(f"$ systemd-analyze security --offline=yes {unit}\n{security.stdout}")
    check(security.returncode == 0, f"security exit {security.returncode} {security.stderr}")
    score = re.search(rf"Overall exposure level for {re.escape(unit.name)}: (\d+\.\d+) (\w+)",
                      security.stdout)
    check(score, "security score found")
    assert score is not None
    # 1.6 is what the unit scored before Type=notify: the hardening is kept or improved.
    check(float(score.group(1)) <= 1.6, f"exposure level {score.group(1)} {score.group(2)}")
    return float(score.group(1))


class Walkthrough:
    def __init__(self, root: Path, dovecot: Dovecot, smtp: SmtpRecorder,
                 stations: list[StationAccount], say: Callable[[str], None] = print) -> None:
        self.root, self.dovecot, self.smtp, self.say = root, dovecot, smtp, say
        self.bhl, self.lkt = stations
        self.opt = root / "opt" / "maildesk"
        self.etc = root / "etc" / "maildesk"
        self.state = root / "var" / "lib" / "maildesk"
        self.backups = root / "var" / "backups" / "maildesk"
        self.unit = root / "etc" / "systemd" / "system" / "maildesk.service"
        self.service: Service | None = None
        self.notes: Notifications | None = None
        self.sent = 0  # resident mails delivered so far (each from its own address)

    # -- the guide's steps ----------------------------------------------------------------

    def check(self, ok: object, what: str) -> None:
        self.say(f"  {'ok  ' if ok else 'FAIL'} {what}")
        assert ok, what

    def user(self) -> None:
        """Step 1: the service user (as root; otherwise this user stands in for it)."""
        if os.geteuid() == 0:
            subprocess.run(["adduser", "--system", "--group", "--home", "/var/lib/maildesk",
                            "--no-create-home", USER], check=True, capture_output=True)
            entry = pwd.getpwnam(USER)
            self.as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        else:
            entry = pwd.getpwuid(os.geteuid())
            self.as_user = {}
        self.uid, self.gid, self.name = entry.pw_uid, entry.pw_gid, entry.pw_name
        self.say(f"step 1: service user {self.name} (uid {self.uid})")

    def install(self) -> float:
        """Step 2: a copy of the repository in opt/maildesk, a fresh venv, pip install."""
        started = time.monotonic()
        self.root.chmod(0o755)
        ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "data",
                                        ".pytest_cache", ".ruff_cache", "build")
        shutil.copytree(REPO, self.opt, ignore=ignore)
        python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
        subprocess.run([python, "-m", "venv", str(self.opt / ".venv")], check=True)
        pip = subprocess.run([str(self.opt / ".venv" / "bin" / "pip"), "install", "-q",
                              "--disable-pip-version-check", str(self.opt)],
                             capture_output=True, text=True, timeout=600)
        assert pip.returncode == 0, pip.stdout + pip.stderr
        took = time.monotonic() - started
        self.say(f"step 2: {python} -m venv; pip install {self.opt} ({took:.0f}s)")
        return took

    def configure(self) -> None:
        """Steps 3 and 4: stations.yaml (root:maildesk 0640) and maildesk.env (root 0600)."""
        self.etc.mkdir(parents=True)
        self.write_stations([self.bhl])
        for path, mode, group in ((self.etc, 0o750, self.gid),
                                  (self.etc / "stations.yaml", 0o640, self.gid),
                                  (self.etc / "rules.yaml", 0o640, self.gid)):
            os.chown(path, os.geteuid(), group)
            path.chmod(mode)
        env = self.etc / "maildesk.env"
        env.write_text(f"MAILDESK_DATA_DIR={self.state}\nMAILDESK_CONFIG={self.etc}/stations.yaml\n"
                       + "".join(f"{s.code}_PASSWORD={s.password}\n" for s in (self.bhl, self.lkt)))
        env.chmod(0o600)
        self.state.parent.mkdir(parents=True)
        self.state_directory()
        self.backups.mkdir(parents=True, mode=0o700)
        os.chown(self.backups, self.uid, self.gid)
        self.say(f"step 3-4: {self.etc} 0750, stations.yaml 0640, maildesk.env 0600; "
                 f"{self.state} 0700 {self.name}")

    def state_directory(self) -> None:
        """StateDirectory=maildesk, StateDirectoryMode=0700: made at every start."""
        self.state.mkdir(mode=0o700, exist_ok=True)
        self.state.chmod(0o700)
        os.chown(self.state, self.uid, self.gid)

    def write_stations(self, stations: list[StationAccount], typo: bool = False) -> None:
        path, _ = write_config(self.etc, (self.dovecot.host, self.dovecot.port),
                               (self.smtp.host, self.smtp.port), stations)
        (self.etc / ".env").unlink()  # the passwords come from the environment file only
        if typo:  # the kind of mistake a reload must survive
            text = path.read_text().replace("poll_seconds:", "pol_seconds:", 1)
            path.write_text(text)

    def environment(self) -> dict[str, str]:
        """What systemd gives the service: the EnvironmentFile's lines, a minimal PATH."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        for line in (self.etc / "maildesk.env").read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
        return env

    def maildesk(self, *args: str) -> subprocess.CompletedProcess:
        """A command as the admin guide's maildesk-admin runs it: the service's user and
        environment."""
        argv = [str(self.opt / ".venv" / "bin" / "maildesk"), "--config",
                str(self.etc / "stations.yaml"), *args]
        return subprocess.run(argv, env=self.environment(), cwd="/", capture_output=True,
                              text=True, timeout=300, umask=0o077, **self.as_user)

    def install_unit(self) -> None:
        """Step 6: the unit in etc/systemd/system, its paths under the scratch root."""
        text = UNIT.read_text().replace("/opt/maildesk", str(self.opt))
        text = text.replace("/etc/maildesk", str(self.etc))
        self.unit.parent.mkdir(parents=True, exist_ok=True)
        self.unit.write_text(text)
        dropin = self.unit.with_name("maildesk.service.d")
        dropin.mkdir(exist_ok=True)
        (dropin / "watchdog.conf").write_text(f"[Service]\nWatchdogSec={WATCHDOG_SEC}\n")

    def analyze(self) -> float:
        return analyze_unit(self.unit, self.check, self.say)

    def exec_start(self) -> list[str]:
        [line] = re.findall(r"(?m)^ExecStart=(.*)$", self.unit.read_text())
        return shlex.split(line)

    def start(self) -> Service:
        """`systemctl start maildesk`: ExecStart as User=, NOTIFY_SOCKET, WATCHDOG_USEC."""
        self.state_directory()
        run = self.root / "run" / "systemd"
        run.mkdir(parents=True, exist_ok=True)
        socket_path = run / "notify"
        socket_path.unlink(missing_ok=True)
        self.notes = Notifications(socket_path)
        env = {**self.environment(), "NOTIFY_SOCKET": str(socket_path),
               "WATCHDOG_USEC": str(WATCHDOG_SEC * 1_000_000)}
        argv = self.exec_start()
        self.say(f"$ {' '.join(argv)}   (as {self.name}, UMask=0077, NOTIFY_SOCKET={socket_path})")
        self.service = Service(argv, env, self.as_user)
        notes = self.notes
        ready = until("READY=1", lambda: notes.after(0, "READY"))
        self.say(f"  notify: {ready[0]}")  # type: ignore[index]
        return self.service

    def is_active(self, stations: int) -> None:
        """What `systemctl status` / `is-active` would tell."""
        assert self.service is not None and self.notes is not None
        notes, start = self.notes, len(self.notes.messages)
        pid = self.service.proc.pid
        self.check(self.service.proc.poll() is None, f"process alive (Main PID {pid})")
        status = [m["STATUS"] for m in notes.messages if "STATUS" in m][-1]
        self.check(status == f"running: {stations} stations", f"Status: \"{status}\"")
        until("two watchdog pings", lambda: len(notes.after(start, "WATCHDOG")) >= 2,
              WATCHDOG_SEC * 3)
        self.check(True, f"WATCHDOG=1 pings every {WATCHDOG_SEC / 2:g}s "
                         f"(WatchdogSec={WATCHDOG_SEC})")
        health = self.maildesk("status")
        self.say("$ maildesk status\n" + health.stdout.rstrip())
        self.check(health.returncode == 0, f"maildesk status exit {health.returncode}")
        self.permissions()

    def permissions(self) -> None:
        """Everything in the state directory is the service user's and no one else's."""
        bad = [str(p) for p in [self.state, *self.state.rglob("*")]
               if p.stat().st_uid != self.uid or p.stat().st_mode & 0o077]
        self.check(not bad, f"state directory {self.name}-only (0700/0600): {bad[:3]}")

    # -- mail -------------------------------------------------------------------------------

    def mail(self, station: StationAccount, tag: str) -> tuple[str, bytes]:
        self.sent += 1
        n = self.sent
        sender = f"resident{n}@example.in"
        return sender, resident_mail(sender, station.address, f"Streetlight {n} is broken",
                                     f"The streetlight at house {n} is dark.",
                                     f"{tag}{n}-{secrets.token_hex(3)}@example.in")

    def acks(self, sender: str) -> int:
        return sum(1 for m in self.smtp.messages if sender in m.rcpt_tos)

    def mail_in_acknowledged(self, station: StationAccount, what: str) -> str:
        sender, raw = self.mail(station, "one")
        self.dovecot.append(station.user, raw)
        until(f"the acknowledgement to {sender}", lambda: self.acks(sender) == 1)
        self.check(True, f"{what}: a mail to {station.code} in, acknowledged")
        return sender

    # -- reload -------------------------------------------------------------------------------

    def reload(self) -> None:
        """`systemctl reload maildesk` (SIGHUP) with a broken file, then a good one."""
        service, notes = self.service, self.notes
        assert service is not None and notes is not None
        self.write_stations([self.bhl], typo=True)
        mark = service.mark()
        service.signal(signal.SIGHUP)
        line = service.wait_for(r"SIGHUP: configuration not reloaded", mark)
        self.say(f"  journal: {service.lines[line]}")
        self.check(service.proc.poll() is None, "broken stations.yaml: still running")
        self.mail_in_acknowledged(self.bhl, "on the old configuration")
        readies = len(notes.after(0, "READY"))
        self.write_stations([self.bhl, self.lkt])
        mark = service.mark()
        service.signal(signal.SIGHUP)
        line = service.wait_for(r"SIGHUP: configuration reloaded \(2 stations\)", mark)
        self.say(f"  journal: {service.lines[line]}")
        until("READY=1 after the reload", lambda: len(notes.after(0, "READY")) > readies)
        self.check(notes.after(0, "STATUS")[-1]["STATUS"] == "running: 2 stations",
                   "good stations.yaml applied: RELOADING=1, READY=1, \"running: 2 stations\"")
        self.mail_in_acknowledged(self.lkt, "the added station")

    # -- backup during intake, restore --------------------------------------------------------

    def backup_during_intake(self, before: int = 60, during: int = 60, after: int = 30) -> Path:
        """Mail keeps arriving at BHL while `maildesk backup` runs; returns the backup."""
        self.stream = [self.mail(self.bhl, "flow") for _ in range(before + during + after)]
        senders = [s for s, _ in self.stream]
        target = self.backups / "during-intake"
        with self.dovecot.client(self.bhl.user) as imap:
            for _, raw in self.stream[:before]:
                imap.append("INBOX", raw)
            until("a first batch acknowledged", lambda: sum(map(self.acks, senders)) >= 20)
            argv = [str(self.opt / ".venv" / "bin" / "maildesk"), "--config",
                    str(self.etc / "stations.yaml"), "backup", str(target)]
            backup = subprocess.Popen(argv, env=self.environment(), cwd="/", umask=0o077,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, **self.as_user)
            overlapped = 0
            for _, raw in self.stream[before:before + during]:
                imap.append("INBOX", raw)
                overlapped += backup.poll() is None
            out, err = backup.communicate(timeout=300)
            self.say(f"$ maildesk backup {target}\n{out.rstrip()}")
            self.check(backup.returncode == 0, f"backup while intake runs (exit "
                       f"{backup.returncode}; {overlapped} mails arrived while it ran) {err}")
            for _, raw in self.stream[before + during:]:
                imap.append("INBOX", raw)
        until("every mail of the stream acknowledged",
              lambda: all(self.acks(s) == 1 for s in senders), 120)
        self.check(True, f"{len(senders)} mails in during the backup, each acknowledged once")
        return target

    def restore(self, backup: Path) -> None:
        """docs/operations.md: stop, restore, move the processed mail back, start."""
        assert self.service is not None and self.notes is not None
        code = self.service.stop()
        stopping = self.notes.after(0, "STOPPING")
        self.check(code == 0 and stopping, f"systemctl stop: STOPPING=1, exit {code}")
        self.notes.close()
        # immutable: reading it must not leave files of this user's in the service's folders
        db = sqlite3.connect(f"file:{backup / 'maildesk.db'}?immutable=1", uri=True)
        self.in_backup = {a for (a,) in db.execute("SELECT from_addr FROM messages")}
        # rcpt_to is a JSON list of addresses
        self.pending_in_backup = {a for (rcpts,) in db.execute(
            "SELECT rcpt_to FROM outbox WHERE status = 'pending' AND kind = 'ack'")
            for a in json.loads(rcpts)}
        db.close()
        senders = [s for s, _ in self.stream]
        inside = [s for s in senders if s in self.in_backup]
        self.say(f"  the backup holds {len(inside)} of the {len(senders)} mails of the stream; "
                 f"{len(self.pending_in_backup & set(senders))} of their acknowledgements "
                 "were still in its outbox")
        self.check(20 <= len(inside) < len(senders), "the backup is a moment during intake")
        # The worst case: the machine is lost with its disk; a new one, set up by the guide.
        shutil.rmtree(self.state)
        self.state_directory()
        self.say(f"  {self.state} lost; made again empty (deploy.md step 5)")
        done = self.maildesk("restore", str(backup))
        self.say(f"$ maildesk restore {backup}\n{done.stdout.rstrip()}")
        self.check(done.returncode == 0, f"restore exit {done.returncode} {done.stderr}")
        self.before_restore = len(self.smtp.messages)
        moved = 0
        for station in (self.bhl, self.lkt):  # "move it back to the INBOX with a mail client"
            with self.dovecot.client(station.user) as imap:
                imap.select_folder(PROCESSED)
                uids = imap.search()
                imap.move(uids, "INBOX")
                moved += len(uids)
        self.say(f"  moved {moved} mails from {PROCESSED} back to INBOX")
        self.start()

    def nothing_lost_nothing_doubled(self) -> None:
        """Every mail is one complaint of the restored desk; the residents whose
        acknowledgement the backup had not sent get it (again), the others nothing more."""
        senders = [s for s, _ in self.stream]
        every = [f"resident{n}@example.in" for n in range(1, self.sent + 1)]

        def after_restore() -> Counter[str]:
            return Counter(r for m in self.smtp.messages[self.before_restore:]
                           for r in m.rcpt_tos)

        expected = {s: 0 if s in self.in_backup and s not in self.pending_in_backup else 1
                    for s in every}
        until("the restored desk caught up",
              lambda: all(after_restore()[s] >= n for s, n in expected.items())
              and not self.dovecot.folder_uids(self.bhl.user)
              and not self.dovecot.folder_uids(self.lkt.user), 120)
        db = self.live_db()
        # Then the outbox is empty: nothing more is on its way that the count above missed.
        until("outbox drained", lambda: not db.execute(
            "SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0])
        rows = db.execute("SELECT from_addr, count(*), count(complaint_id) FROM messages "
                          "WHERE kind = 'new' GROUP BY from_addr").fetchall()
        db.close()
        per_sender = {a: (n, c) for a, n, c in rows}
        self.check(all(per_sender.get(s) == (1, 1) for s in every),
                   f"all {len(every)} mails are in the restored desk, each one complaint")
        extra = after_restore()
        wrong = [(s, expected[s], extra[s], s in self.in_backup, s in self.pending_in_backup)
                 for s in every if extra[s] != expected[s]]
        self.say(f"  (resident, expected, sent, in the backup, pending there): {wrong}"
                 if wrong else "")
        self.check(not wrong,
                   f"after the restore: {sum(expected.values())} acknowledgements "
                   f"({len([s for s in senders if s not in self.in_backup])} mails taken in "
                   f"again, {len(self.pending_in_backup & set(every))} left in the backup's "
                   "outbox), none for the mails the backup had answered")
        self.is_active(2)

    def live_db(self) -> sqlite3.Connection:
        """The running desk's database, read-only (its WAL files exist while it runs)."""
        return sqlite3.connect(f"file:{self.state / 'maildesk.db'}?mode=ro", uri=True)

    def no_secrets_in_the_journal(self) -> None:
        assert self.service is not None
        secrets_ = (self.bhl.password, self.lkt.password)
        self.check(not [line for line in self.service.lines for s in secrets_ if s in line],
                   "no password in the journal")
        # The residents' words: every subject and body says "Streetlight"/"streetlight".
        self.check(not [line for line in self.service.lines if "treetlight" in line],
                   "no complaint text in the journal")
        coded = [line for line in self.service.lines
                 if re.search(r"station [A-Z]+: .*\b[A-Z]{2,6}-\d{4}-\d{4}\b", line)]
        self.say("  journal, a line per mail:\n    " + "\n    ".join(coded[-2:]))
        self.check(coded, "journal lines name the station and the complaint code")

    def stop(self) -> None:
        if self.service is not None:
            self.service.kill()
        if self.notes is not None:
            self.notes.close()


def walk(w: Walkthrough, analyze: bool = True) -> None:
    w.user()
    w.install()
    w.configure()
    w.install_unit()
    if analyze:
        w.analyze()
    check = w.maildesk("check")
    w.say("$ maildesk check\n" + check.stdout.rstrip())
    w.check(check.returncode == 0, "maildesk check: every login ok")
    service = w.start()
    try:
        w.mail_in_acknowledged(w.bhl, "step 7")
        w.is_active(1)
        w.reload()
        backup = w.backup_during_intake()
        w.restore(backup)
        w.nothing_lost_nothing_doubled()
        w.no_secrets_in_the_journal()
        code = w.service.stop() if w.service else 0
        w.check(code == 0, f"systemctl stop: exit {code}")
        w.service.assert_clean()  # type: ignore[union-attr]
    except BaseException:
        w.say("--- the journal ---\n" + "\n".join((w.service or service).lines[-60:]))
        raise
    finally:
        w.stop()


def main() -> int:
    dovecot = Dovecot.start()
    smtp = SmtpRecorder().start()
    root = Path(tempfile.mkdtemp(prefix="maildesk-deploy-"))
    try:
        stations = [StationAccount(code, user.name, user.password) for code, user in (
            ("BHL", dovecot.add_user(f"bhl{secrets.token_hex(3)}", secrets.token_hex(8))),
            ("LKT", dovecot.add_user(f"lkt{secrets.token_hex(3)}", secrets.token_hex(8))))]
        walk(Walkthrough(root, dovecot, smtp, stations))
        print("walkthrough: every check passed")
        return 0
    finally:
        smtp.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
