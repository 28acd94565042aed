"""The one recording SMTP server, for the demo and for the tests (aiosmtpd on 127.0.0.1).

It records every message it accepts, can be told to fail (4xx or 5xx at RCPT or DATA), checks
logins (PLAIN, LOGIN and XOAUTH2) when given credentials, can be stopped and restarted on the
same port, and can hand each message to a delivery function before it answers 250 (the demo
delivers into its local IMAP mailboxes that way).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["Received", "SmtpRecorder", "free_port"]

LOCALHOST = "127.0.0.1"
log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    The OS picks it (bind to port 0); there is an unavoidable race until the caller binds it,
    which callers handle by retrying where it matters (see the tests' ``Dovecot.start``).
    """
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


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
        failure = self._recorder._failure("RCPT") or self._recorder.refused.get(address)
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self._recorder._failure("DATA") or next(
            (self._recorder.deferred[a] for a in envelope.rcpt_tos
             if a in self._recorder.deferred), None)
        if failure is not None:
            return failure
        # original_content is the raw bytes on the wire (dot-unstuffed) whatever decode_data.
        data = envelope.original_content
        assert data is not None
        message = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(data),
        )
        deliver = self._recorder.deliver
        if deliver is not None:
            # Delivery is blocking I/O (the demo appends over IMAP): one worker thread, so the
            # SMTP server stays responsive and deliveries happen in order of acceptance.
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._recorder.executor, deliver, message)
            except Exception as exc:
                log.exception("recording SMTP server: local delivery failed")
                # A temporary failure makes a real client retry later, and the message is not
                # recorded: the caller can see it did not go through. Only the type name goes
                # into the reply: exception text could break the SMTP line.
                return f"451 4.3.0 Local delivery failed ({type(exc).__name__})"
        self._recorder._record(message)
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
    """SMTP server on 127.0.0.1 that records what it receives (and, given ``deliver``, delivers it).

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
        deliver: Callable[[Received], None] | None = None,
        server_hostname: str = "smtp-recorder.test",
        smtputf8: bool = False,
    ) -> None:
        self.smtputf8 = smtputf8  # offer SMTPUTF8 (RFC 6531): internationalised addresses
        self.host = LOCALHOST
        self.port = port if port is not None else free_port()
        self.credentials = credentials
        self.ready_timeout = ready_timeout
        self.deliver = deliver  # called for each message before the 250, in a worker thread
        self.server_hostname = server_hostname
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-deliver")
        self._messages: list[Received] = []
        self._logins: list[str] = []
        self._cond = threading.Condition()
        self._fail: tuple[FailStage, str] | None = None
        self.refused: dict[str, str] = {}  # address -> the reply to its RCPT (see refuse)
        self.deferred: dict[str, str] = {}  # address -> the reply to DATA of its mail (defer)
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
            server_hostname=self.server_hostname,
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
            self.executor.shutdown(wait=True)
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-deliver")

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

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer RCPT TO this one address with `reply`; other recipients are accepted."""
        self.refused[address] = reply

    def defer(self, address: str, reply: str = "451 4.7.1 Try again later") -> None:
        """Answer DATA of every mail to this one address with `reply` (a content scanner
        that times out on one mail, say); other mail is accepted."""
        self.deferred[address] = reply

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

    def wait_until_quiet(self, timeout: float = 10) -> None:
        """Block until every client connection has ended (each handler is done): what a client
        that was killed had sent is now recorded, or never will be."""
        controller = self._controller
        if controller is None:
            return

        async def quiet() -> None:
            tasks = [task for smtp in list(controller.connections)
                     if (task := getattr(smtp, "_handler_coroutine", None)) is not None
                     and not task.done()]
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        asyncio.run_coroutine_threadsafe(quiet(), controller.loop).result(timeout + 5)

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
