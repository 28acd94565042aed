"""Real mail servers for tests and benchmarks: a private Dovecot and a recording SMTP server.

Plain Python on purpose (no pytest import), so that benchmark scripts can use it too.

- :class:`Dovecot` runs a throw-away Dovecot 2.3 IMAP server on 127.0.0.1, entirely from a
  generated config inside a work directory (nothing from /etc/dovecot is used).
- :class:`SmtpRecorder` runs an aiosmtpd server on 127.0.0.1 that records every message it
  accepts, can be told to fail, and can be stopped and restarted on the same port.
"""

from __future__ import annotations

import asyncio
import base64
import grp
import logging
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
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient
from imapclient.imap_utf7 import encode as imap_utf7_encode

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


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The OS picks it (bind to port 0); there is an unavoidable race until the caller binds it,
    which callers handle by retrying where it matters (see :meth:`Dovecot.start`).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


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
    def start(cls, workdir: Path | None = None, *, timeout: float = 20.0) -> Dovecot:
        """Write a config into ``workdir`` and start ``dovecot -F`` on a free port.

        Without ``workdir``, a private directory is made in the system temp dir and removed
        again by :meth:`stop` (the way to go as root, see the class docstring).  Returns once
        the server answers with an IMAP greeting.  A port taken by someone else between
        choosing and binding it is retried with another port.
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
            return cls._start_in(binary, workdir, identity, owns_workdir, timeout)
        except BaseException:
            if owns_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            raise

    @classmethod
    def _start_in(
        cls, binary: str, workdir: Path, identity: _Identity, owns_workdir: bool, timeout: float
    ) -> Dovecot:
        last_error: DovecotError | None = None
        for _attempt in range(3):
            port = free_port()
            # A fresh log per attempt, so that the port check below sees only this attempt.
            (workdir / "dovecot.log").unlink(missing_ok=True)
            (workdir / "dovecot.conf").write_text(_dovecot_config(workdir, port, identity))
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


def _dovecot_config(workdir: Path, port: int, identity: _Identity) -> str:
    base_dir = workdir / "run"
    if len(str(base_dir)) > _MAX_BASE_DIR_LEN:
        raise DovecotError(
            f"work directory path too long for Dovecot's unix sockets: {base_dir} "
            f"(at most {_MAX_BASE_DIR_LEN} characters)"
        )
    users = workdir / "users"
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
auth_mechanisms = plain login
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
}}
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


# --------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message accepted by :class:`SmtpRecorder`, exactly as sent (raw bytes)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


FailStage = Literal["RCPT", "DATA"]


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4 logs "Session.login_data is deprecated" from its *own* AUTH code on every
    successful login (nothing we call); keep that noise out of test logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_DropLoginDataWarning())


class _RecordingHandler:
    """aiosmtpd handler: accept (or refuse, when told to) and hand messages to the recorder."""

    def __init__(self, recorder: SmtpRecorder) -> None:
        self._recorder = recorder

    # XOAUTH2 (Gmail, Microsoft 365): the access token is checked like a password, against
    # ``credentials`` when given, and the login is recorded the same way.
    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        try:
            fields = dict(f.split(b"=", 1) for f in base64.b64decode(args[1]).split(b"\x01") if f)
            token = fields[b"auth"].removeprefix(b"Bearer ")
            return server._authenticate("XOAUTH2", LoginPassword(fields[b"user"], token))
        except (IndexError, KeyError, ValueError):
            await server.push("501 5.5.2 Can't decode XOAUTH2 response")
            return AuthResult(success=False, handled=True)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._recorder.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        failure = self._recorder._failure("RCPT")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self._recorder._failure("DATA")
        if failure is not None:
            return failure
        data = envelope.original_content
        assert data is not None
        self._recorder._record(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(data),
            )
        )
        return "250 2.0.0 OK: recorded"


class _TrackingController(Controller):
    """Controller that remembers its SMTP connections so :meth:`close_clients` can drop them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def factory(self) -> SMTP:
        smtp = super().factory()
        self.connections.add(smtp)
        return smtp

    async def close_clients(self) -> None:
        """Stop listening, close every client connection and wait for their handlers."""
        if self.server is not None:
            self.server.close()
        tasks = []
        for smtp in list(self.connections):
            if smtp.transport is not None:
                smtp.transport.close()
            task = getattr(smtp, "_handler_coroutine", None)
            if task is not None and not task.done():
                tasks.append(task)
        # The handlers end with CancelledError once connection_lost() runs; waiting for them
        # (not sleeping) means no task or transport is left for loop.close() to complain about.
        if tasks:
            await asyncio.wait(tasks, timeout=5)


class SmtpRecorder:
    """SMTP server on 127.0.0.1 that records what it receives.

    Plain SMTP without TLS.  AUTH PLAIN/LOGIN/XOAUTH2 is offered (without TLS) and any
    credentials are accepted, unless ``credentials`` is given: then only those are accepted
    (an XOAUTH2 token as the password) and MAIL FROM requires a login.  Messages survive
    :meth:`stop`/:meth:`start`.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        credentials: dict[str, str] | None = None,
        ready_timeout: float = 30.0,
        smtputf8: bool = False,
    ) -> None:
        self.smtputf8 = smtputf8  # offer SMTPUTF8 (RFC 6531): internationalised addresses
        self.host = LOCALHOST
        self.port = port if port is not None else free_port()
        self.credentials = credentials
        self.ready_timeout = ready_timeout
        self._messages: list[Received] = []
        self._logins: list[str] = []
        self._cond = threading.Condition()
        self._fail: tuple[FailStage, str] | None = None
        self._controller: _TrackingController | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> SmtpRecorder:
        """Start listening (again) on ``self.port``."""
        if self._controller is not None:
            raise RuntimeError("SmtpRecorder already running")
        # A stopped Controller has closed its event loop, so every start needs a new one.
        controller = _TrackingController(
            _RecordingHandler(self),
            hostname=self.host,
            port=self.port,
            # Controller.start() waits this long for the socket and for its own self-test
            # connection; 5 s (the default) is tight on a loaded CI machine.
            ready_timeout=self.ready_timeout,
            # Without this, SMTP() calls socket.getfqdn(), a DNS lookup that can hang for
            # seconds on machines without a resolver and blow the ready_timeout.
            server_hostname="smtp-recorder.test",
            decode_data=False,
            authenticator=self._authenticate,
            auth_require_tls=False,
            enable_SMTPUTF8=self.smtputf8,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Close the listener and every open connection: clients see the server go away."""
        controller = self._controller
        if controller is None:
            return
        self._controller = None
        try:
            future = asyncio.run_coroutine_threadsafe(controller.close_clients(), controller.loop)
            future.result(timeout=10)
        finally:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpRecorder:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- behaviour -----------------------------------------------------------------------------

    def fail_with(
        self, code: int | None, message: str | None = None, *, at: FailStage = "DATA"
    ) -> None:
        """Answer every following DATA (or RCPT, with ``at="RCPT"``) with ``code``.

        ``fail_with(None)`` goes back to accepting mail.
        """
        if code is None:
            self._fail = None
            return
        if not 400 <= code <= 599:
            raise ValueError(f"not an SMTP failure code: {code}")
        if message is None:
            message = (
                "4.3.0 Temporary failure (SmtpRecorder.fail_with)"
                if code < 500
                else "5.7.1 Rejected (SmtpRecorder.fail_with)"
            )
        self._fail = (at, f"{code} {message}")

    def _failure(self, stage: FailStage) -> str | None:
        fail = self._fail
        if fail is not None and fail[0] == stage:
            return fail[1]
        return None

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if self.credentials is not None and self.credentials.get(login) != password:
            return AuthResult(success=False, handled=False)
        with self._cond:
            self._logins.append(login)
        return AuthResult(success=True)

    # -- what arrived --------------------------------------------------------------------------

    def _record(self, message: Received) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[Received]:
        """A copy of the messages received so far, in arrival order."""
        with self._cond:
            return list(self._messages)

    @property
    def logins(self) -> list[str]:
        """User names of successful AUTH commands, in order."""
        with self._cond:
            return list(self._logins)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()
            self._logins.clear()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Block until at least ``count`` messages have arrived; return all of them.

        Raises TimeoutError (saying what did arrive) if they do not within ``timeout``.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(
                    f"SmtpRecorder on {self.host}:{self.port}: expected at least {count} "
                    f"message(s) within {timeout}s, got {len(self._messages)}"
                    + _describe(self._messages)
                )
            return list(self._messages)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SmtpRecorder {self.host}:{self.port} {state} messages={len(self._messages)}>"


def _describe(messages: Iterable[Received]) -> str:
    lines = []
    for message in messages:
        subject = re.search(rb"(?im)^subject:(.*)$", message.data)
        lines.append(
            f"\n  from {message.mail_from!r} to {message.rcpt_tos!r}"
            f" subject {subject.group(1).strip().decode(errors='replace') if subject else None!r}"
        )
    return ":" + "".join(lines) if lines else ""
