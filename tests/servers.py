"""Real mail servers for tests and benchmarks: a private Dovecot and a recording SMTP server.

Plain Python on purpose (no pytest import), so that benchmark scripts can use it too.

- :class:`Dovecot` runs a throw-away Dovecot 2.3 IMAP server on 127.0.0.1, entirely from a
  generated config inside a work directory (nothing from /etc/dovecot is used).
- :class:`SmtpRecorder` (from ``maildesk_demo.recorder``, shared with the demo) runs an
  aiosmtpd server on 127.0.0.1 that records every message it accepts, can be told to fail,
  and can be stopped and restarted on the same port.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient
from imapclient.imap_utf7 import encode as imap_utf7_encode

from maildesk_demo.recorder import Received, SmtpRecorder, free_port

__all__ = [
    "Dovecot",
    "DovecotError",
    "MailboxUser",
    "Received",
    "SmtpRecorder",
    "find_dovecot",
    "free_port",
]

LOCALHOST = "127.0.0.1"

# Unix socket paths are limited to 108 bytes; Dovecot's longest socket name below base_dir is
# about 30 characters, so refuse base dirs that would overflow with an explicit error instead
# of Dovecot's cryptic bind() failure.
_MAX_BASE_DIR_LEN = 70

# User names become file names (users/<name>, mail/<name>) and IMAP login names.
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*\Z")
# Characters that would break the passwd-file format (':' separates fields) or the config.
_BAD_PASSWD_CHARS = re.compile(r"[:\s\x00-\x1f\x7f]")


def find_dovecot() -> str | None:
    """Return the path of the ``dovecot`` master binary, or None if it is not installed."""
    # /usr/sbin is often not on a normal user's PATH, so look there explicitly too.
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


# --------------------------------------------------------------------------------------------
# Dovecot
# --------------------------------------------------------------------------------------------


class DovecotError(RuntimeError):
    """Dovecot could not be started or used as expected."""


@dataclass(frozen=True)
class MailboxUser:
    """A Dovecot account and where to reach it."""

    name: str
    password: str
    host: str
    port: int


@dataclass(frozen=True)
class _Identity:
    """The unix users Dovecot runs as (see :meth:`Dovecot._identity`)."""

    internal_user: str
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int


class Dovecot:
    """A private Dovecot IMAP server (plain IMAP, no TLS) on 127.0.0.1.

    Everything lives in ``workdir``: ``dovecot.conf``, ``users/<name>`` (one passwd-file per
    user, ``{PLAIN}`` passwords, see :meth:`add_user`), ``mail/<name>/`` (Maildir++, folder
    separator "."), ``run/`` (base_dir), ``state/``, ``dovecot.log`` and ``dovecot.stderr``
    (early start-up errors, before the log file is opened).  IMAP4rev1 with IDLE, MOVE and
    UIDPLUS, as Dovecot 2.3 has by default; AUTH PLAIN and LOGIN in the clear.

    Users of the process:

    - not root: every Dovecot process runs as the current user, which is also the mail user.
    - root: Dovecot refuses mail access as uid 0 ("Mail access not allowed for root", even
      with first_valid_uid = 0), so mail is owned by ``nobody:nogroup`` and the auth process
      runs as the package's ``dovecot`` user (login processes as ``dovenull``).  These
      processes must be able to reach ``workdir``: :meth:`start` opens ``workdir`` itself
      (mode 0711) and raises :class:`DovecotError` if an ancestor directory is closed to
      others, as pytest's 0700 temp dirs are.  So as root call ``Dovecot.start()`` without
      a workdir, which makes one in the system temp dir.  (Opening pytest's dirs instead
      does not hold: any other pytest session of the same user closes them again.)
    """

    def __init__(
        self,
        *,
        binary: str,
        workdir: Path,
        port: int,
        process: subprocess.Popen[bytes],
        identity: _Identity,
        owns_workdir: bool,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.host = LOCALHOST
        self.port = port
        self._process = process
        self._identity = identity
        self._owns_workdir = owns_workdir
        self._passwords: dict[str, str] = {}
        self._users_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """PID of the Dovecot master process (we own it: it runs in the foreground)."""
        return self._process.pid

    @property
    def config_path(self) -> Path:
        return self.workdir / "dovecot.conf"

    @property
    def users_dir(self) -> Path:
        """One passwd-file per user: ``users/<name>``."""
        return self.workdir / "users"

    @property
    def log_path(self) -> Path:
        return self.workdir / "dovecot.log"

    @property
    def mail_root(self) -> Path:
        return self.workdir / "mail"

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def start(cls, workdir: Path | None = None, *, timeout: float = 20.0,
              oauth2_introspection: str | None = None) -> Dovecot:
        """Write a config into ``workdir`` and start ``dovecot -F`` on a free port.

        Without ``workdir``, a private directory is made in the system temp dir and removed
        again by :meth:`stop` (the way to go as root, see the class docstring).  Returns once
        the server answers with an IMAP greeting.  A port taken by someone else between
        choosing and binding it is retried with another port.  With ``oauth2_introspection``
        (an RFC 7662 URL on loopback) users may also log in by XOAUTH2 / OAUTHBEARER with a
        token that URL calls active for them (Dovecot's oauth2 passdb).
        """
        binary = find_dovecot()
        if binary is None:
            raise DovecotError("dovecot is not installed (apt-get install dovecot-imapd)")
        owns_workdir = workdir is None
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="maildesk-dovecot-"))
        workdir = Path(workdir).resolve()
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            identity = cls._identity()
            cls._prepare_workdir(workdir, identity)
            return cls._start_in(binary, workdir, identity, owns_workdir, timeout,
                                 oauth2_introspection)
        except BaseException:
            if owns_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            raise

    @classmethod
    def _start_in(
        cls, binary: str, workdir: Path, identity: _Identity, owns_workdir: bool, timeout: float,
        oauth2_introspection: str | None = None,
    ) -> Dovecot:
        last_error: DovecotError | None = None
        for _attempt in range(3):
            port = free_port()
            # A fresh log per attempt, so that the port check below sees only this attempt.
            (workdir / "dovecot.log").unlink(missing_ok=True)
            (workdir / "dovecot.conf").write_text(
                _dovecot_config(workdir, port, identity, oauth2_introspection))
            # Popen gives the child its own copy of the file descriptor, so ours can be closed.
            with open(workdir / "dovecot.stderr", "wb") as stderr:
                process = subprocess.Popen(
                    [*_die_with_parent(), binary, "-F", "-c", str(workdir / "dovecot.conf")],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    # Own session: a Ctrl-C in the terminal reaches pytest only, which then
                    # stops Dovecot cleanly through the fixture.
                    start_new_session=True,
                )
            server = cls(
                binary=binary,
                workdir=workdir,
                port=port,
                process=process,
                identity=identity,
                owns_workdir=owns_workdir,
            )
            try:
                server._wait_until_ready(timeout)
                return server
            except BaseException as error:
                server._stop_process(timeout=10)
                if not isinstance(error, DovecotError):
                    raise
                last_error = error
                if "Address already in use" not in server.log_tail():
                    raise
        assert last_error is not None
        raise last_error

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the Dovecot master by PID (it stops its children) and wait for it.

        Also removes the work directory if :meth:`start` made it.
        """
        self._stop_process(timeout)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_process(self, timeout: float) -> None:
        if self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout)

    def pause(self, timeout: float = 10.0) -> None:
        """Stop the server (an outage); :meth:`resume` starts it again on the same port."""
        self._stop_process(timeout)

    def resume(self, timeout: float = 20.0) -> None:
        with open(self.workdir / "dovecot.stderr", "ab") as stderr:
            self._process = subprocess.Popen(
                [*_die_with_parent(), self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                start_new_session=True,
            )
        self._wait_until_ready(timeout)

    def is_running(self) -> bool:
        return self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of dovecot.stderr and dovecot.log, for error messages."""
        parts = []
        for path in (self.workdir / "dovecot.stderr", self.log_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts)

    def _wait_until_ready(self, timeout: float) -> None:
        """Poll until the IMAP port sends a greeting, failing fast if Dovecot exits."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with (
                    socket.create_connection((self.host, self.port), timeout=2) as sock,
                    sock.makefile("rb") as stream,
                ):
                    greeting = stream.readline()
                if greeting.startswith(b"* OK"):
                    return
                last = DovecotError(f"unexpected greeting {greeting!r}")
            except OSError as error:
                last = error
            # Waiting for the master to exit doubles as the poll interval: a config error
            # or a taken port ends the wait at once instead of running out the deadline.
            try:
                code = self._process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise DovecotError(
                f"dovecot exited with status {code} during start-up\n{self.log_tail()}"
            )
        raise DovecotError(
            f"dovecot did not answer on {self.host}:{self.port} within {timeout}s "
            f"(last error: {last!r})\n{self.log_tail()}"
        )

    @staticmethod
    def _identity() -> _Identity:
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid()).pw_name
            my_group = grp.getgrgid(os.getegid()).gr_name
            return _Identity(me, my_group, me, os.geteuid(), os.getegid())
        try:
            pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
            nobody = pwd.getpwnam("nobody")
        except KeyError as error:
            raise DovecotError(
                f"running as root needs the users dovecot, dovenull and nobody: {error}"
            ) from error
        return _Identity("dovecot", "dovecot", "dovenull", nobody.pw_uid, nobody.pw_gid)

    @staticmethod
    def _prepare_workdir(workdir: Path, identity: _Identity) -> None:
        mail = workdir / "mail"
        mail.mkdir(exist_ok=True)
        users = workdir / "users"
        users.mkdir(exist_ok=True)
        if os.geteuid() != 0:
            return
        # The auth process (user dovecot) reads `users`; imap processes (mail user) use
        # `mail/`.  Open exactly what they need and check that they can get there at all.
        workdir.chmod(stat.S_IMODE(workdir.stat().st_mode) | 0o711)
        users.chmod(0o755)
        os.chown(mail, identity.mail_uid, identity.mail_gid)
        closed = [
            str(parent) for parent in workdir.parents if not parent.stat().st_mode & stat.S_IXOTH
        ]
        if closed:
            raise DovecotError(
                "running as root, Dovecot's unprivileged processes cannot reach "
                f"{workdir}: {', '.join(closed)} not searchable by others; "
                "use Dovecot.start() without a workdir"
            )

    # -- users ---------------------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> MailboxUser:
        """Create a user; it can log in as soon as this returns.

        Each user has its own passwd-file (``users/<name>``; the passdb path is
        ``users/%u``), because Dovecot 2.3 checks a passwd-file for changes at most once per
        second: a user appended to one shared file is invisible to logins within the same
        second as the previous lookup.  A new file is a new path, read on first use.
        """
        if not _USER_NAME.match(name):
            raise ValueError(f"unusable user name (want [A-Za-z0-9][A-Za-z0-9._@+-]*): {name!r}")
        if not password or _BAD_PASSWD_CHARS.search(password):
            raise ValueError(f"unusable password for a passwd-file: {password!r}")
        with self._users_lock:
            path = self.users_dir / name
            if name in self._passwords or path.exists():
                raise ValueError(f"user {name!r} already exists")
            # Write then rename, so that Dovecot never reads a half-written file.
            partial = self.users_dir / f".{name}.partial"
            partial.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
            partial.chmod(0o644)
            partial.rename(path)
            self._passwords[name] = password
        return MailboxUser(name=name, password=password, host=self.host, port=self.port)

    def password(self, user: str) -> str:
        return self._passwords[user]

    # -- IMAP helpers --------------------------------------------------------------------------

    def client(self, user: str, *, timeout: float = 30.0) -> IMAPClient:
        """A new IMAPClient connection logged in as ``user`` (plain IMAP).  Caller logs out;
        it is a context manager that does so."""
        imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            imap.login(user, self._passwords[user])
        except BaseException:
            imap.shutdown()
            raise
        return imap

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        *,
        flags: Sequence[str] = (),
    ) -> int:
        """Store ``raw`` in ``folder`` (created if missing) and return its UID (APPENDUID)."""
        with self.client(user) as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            response = imap.append(folder, raw, flags=tuple(flags))
        match = re.search(rb"\[APPENDUID (\d+) (\d+)\]", response)
        if match is None:
            raise DovecotError(f"no APPENDUID in APPEND response {response!r}")
        return int(match.group(2))

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        """UIDs of all messages in ``folder``, ascending."""
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in imap.search("ALL"))

    def fetch_all(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Raw bytes (``BODY.PEEK[]``, so \\Seen is not set) of every message, by UID."""
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            uids = imap.search("ALL")
            fetched = imap.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
        return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as imap:
            return int(imap.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def maildir_path(self, user: str, folder: str = "INBOX") -> Path:
        """Directory of ``folder`` for ``user`` (Maildir++ layout: ``.Sub.Folder``)."""
        base = self.mail_root / user
        if folder.upper() == "INBOX":
            return base
        return base / ("." + imap_utf7_encode(folder).decode("ascii"))

    def set_uidvalidity_reset(self, user: str, folder: str = "INBOX") -> None:
        """Force a new UIDVALIDITY on ``folder`` while keeping its messages.

        How it works in Dovecot 2.3 (maildir): UIDVALIDITY and the UID of every file are kept
        in ``dovecot-uidlist``, with a copy in the ``dovecot.index*`` files.  Deleting both
        makes Dovecot rebuild them on the next access: the messages get fresh UIDs from 1 and
        the folder a new UIDVALIDITY from the per-user ``dovecot-uidvalidity`` counter
        (max(now, last + 1)), so it differs even within the same second; that counter file
        is in the user's maildir root and is kept.  This is what a client sees when a real
        server loses or rebuilds its index.  (Deleting only ``dovecot-uidlist`` renumbers
        the UIDs but keeps UIDVALIDITY from the index; deleting only the index changes
        nothing.)

        A session that has the folder selected at that moment is disconnected by Dovecot on
        its next command ("* BYE IMAP session state is inconsistent, please relogin."), which
        imaplib reports as ``IMAP4.abort``.
        """
        path = self.maildir_path(user, folder)
        if not (path / "cur").is_dir():
            raise DovecotError(f"no maildir for {user}/{folder} at {path}")
        removed = [
            entry
            for entry in path.iterdir()
            if entry.name == "dovecot-uidlist" or entry.name.startswith("dovecot.index")
        ]
        for entry in removed:
            entry.unlink()

    def __repr__(self) -> str:
        return f"<Dovecot pid={self.pid} {self.host}:{self.port} {self.workdir}>"


def _die_with_parent() -> list[str]:
    """Command prefix that makes the child get SIGTERM when this process dies.

    Without it, a test run killed hard (SIGKILL, CI timeout) leaves its Dovecot running
    forever.  setpriv (util-linux) sets PR_SET_PDEATHSIG and execs Dovecot, so the PID stays
    the same; the signal fires when the *thread* that started Dovecot ends, so start it from
    a long-lived thread (the main thread, as pytest fixtures are).  preexec_fn could do the
    same, but forking with a Python callback is unsafe with threads (SmtpRecorder's) around.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv else []


def _oauth2_passdb(workdir: Path, introspection: str | None) -> tuple[str, str]:
    """The extra SASL mechanisms and passdb block for OAuth2 logins (empty without)."""
    if introspection is None:
        return "", ""
    settings = workdir / "dovecot-oauth2.conf.ext"
    settings.write_text(f"""\
introspection_mode = post
introspection_url = {introspection}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
""")
    settings.chmod(0o644)
    return " xoauth2 oauthbearer", f"""
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {settings}
}}"""


def _dovecot_config(workdir: Path, port: int, identity: _Identity,
                    oauth2_introspection: str | None = None) -> str:
    base_dir = workdir / "run"
    if len(str(base_dir)) > _MAX_BASE_DIR_LEN:
        raise DovecotError(
            f"work directory path too long for Dovecot's unix sockets: {base_dir} "
            f"(at most {_MAX_BASE_DIR_LEN} characters)"
        )
    users = workdir / "users"
    mechanisms, oauth2 = _oauth2_passdb(workdir, oauth2_introspection)
    return f"""\
# Generated by tests/servers.py -- a private, throw-away Dovecot for tests.
base_dir = {base_dir}
state_dir = {workdir / "state"}
instance_name = maildesk-test-{port}
log_path = {workdir / "dovecot.log"}
info_log_path = {workdir / "dovecot.log"}

protocols = imap
listen = {LOCALHOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
# Wrong-password tests would otherwise wait 2 s per failed login (0 still means ~0.5 s).
auth_failure_delay = 0
auth_verbose = yes

default_internal_user = {identity.internal_user}
# Group of some sockets in base_dir; not root, Dovecot can only chown them to our own group.
default_internal_group = {identity.internal_group}
default_login_user = {identity.login_user}
mail_uid = {identity.mail_uid}
mail_gid = {identity.mail_gid}
first_valid_uid = {identity.mail_uid}
last_valid_uid = {identity.mail_uid}
first_valid_gid = {identity.mail_gid}
last_valid_gid = {identity.mail_gid}

mail_location = maildir:{workdir / "mail"}/%u
namespace inbox {{
  inbox = yes
}}
# Disposable data: skip fsync for speed.
mail_fsync = never
# IDLE normally learns about new mail via inotify; if that is unavailable, poll every second
# rather than every 30 s so that IDLE tests stay fast.
mailbox_idle_check_interval = 1 secs

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}/%u
}}{oauth2}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}/%u
}}

service imap-login {{
  inet_listener imap {{
    address = {LOCALHOST}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  # chroot needs root; without it the same config also works for a normal user.
  chroot =
}}
service anvil {{
  chroot =
  # No auth penalty socket = no auth penalty: otherwise after one failed login every
  # further login from 127.0.0.1 (even a correct one) is delayed by 2, 4, 8... seconds.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service ipc {{
  chroot =
}}
service old-stats {{
  chroot =
}}
"""
