"""Local IMAP and SMTP servers for ``maildesk demo`` and the test suite.

``maildesk demo`` has to run the whole flow on any machine with no root, no system packages
and no configuration, so both servers are pure Python and listen only on 127.0.0.1, each on a
free port that the operating system picks:

* IMAP is pymap's in-memory ``dict`` backend. Its IMAP service runs in this process, on an
  asyncio event loop of its own in a background thread. Running it in-process (rather than
  as a ``pymap`` subprocess) lets us define any number of users with passwords (the ``pymap``
  command line only knows one demo user), bind port 0 and read back the real port (no race
  for a "free" port), and stop it without leaving a process behind.
* SMTP is the tests' recording server (``maildesk_demo.recorder``, aiosmtpd in its own
  thread and event loop). It accepts every message without TLS, records it, writes a copy
  to ``workdir/sent/`` and delivers it, through an IMAP APPEND as the recipient, into the
  INBOX of every recipient that is one of the demo mailboxes.

The login name of a mailbox is its address exactly as registered, e.g.
``behala.ps@demo.maildesk.local``.

Usage::

    with start_demo_servers({"a@demo.local": "pw"}, workdir) as servers:
        ...  # point maildesk at servers.imap_port / servers.smtp_port
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from argparse import Namespace
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar, cast

from imapclient import IMAPClient
from proxyprotocol.reader import ProxyProtocolReader
from proxyprotocol.sock import SocketInfo
from pymap.backend.dict import Config as DictConfig
from pymap.backend.dict import Identity as DictIdentity
from pymap.backend.dict import Login as DictLogin
from pymap.concurrent import Subsystem
from pymap.imap import IMAPServer
from pymap.user import Passwords, UserMetadata
from pysasl.hashing import Cleartext

from maildesk_demo.recorder import Received, SmtpRecorder

__all__ = ["DEMO_HOST", "DemoMailServers", "SentMail", "start_demo_servers"]

log = logging.getLogger(__name__)

#: Both servers listen on loopback only: the demo must never be reachable from outside.
DEMO_HOST = "127.0.0.1"

# Generous bounds for a busy 2-core CI machine; on a laptop startup takes a few ms.
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0
# Socket timeout of our own IMAP client connections (append, messages, SMTP delivery), so a
# wedged server turns into an error instead of a hang.
_IMAP_IO_TIMEOUT = 15.0

_T = TypeVar("_T")


class SentMail(NamedTuple):
    """One message accepted by the demo SMTP server (a plain tuple for callers)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class _Mailboxes:
    """Thread-safe registry of the demo mailboxes: address -> (login name, password).

    SMTP recipients are matched case-insensitively (as mail systems treat domains, and as
    users expect of local parts), while the IMAP login name stays the address as registered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, tuple[str, str]] = {}

    def add(self, address: str, password: str) -> None:
        with self._lock:
            self._by_key[address.lower()] = (address, password)

    def credentials(self, address: str) -> tuple[str, str] | None:
        with self._lock:
            return self._by_key.get(address.lower())


class _DemoImapConfig(DictConfig):
    """pymap's dict-backend config with a greeting that needs no DNS.

    The stock greeting calls ``socket.getfqdn()`` on every connection, which can stall for
    seconds on machines whose resolver is unreachable (sandboxes, offline laptops).
    """

    @property
    def greeting(self) -> bytes:
        return b"Server ready maildesk-demo"


class _CoalescingWriter:
    """StreamWriter stand-in that hands each pymap response to the socket in one write.

    pymap writes a response piecewise (``* 1 FETCH `` then ``(FLAGS ...)``) and asyncio
    sends each piece as its own TCP segment. A client reading a non-blocking socket can then
    see half a line: imapclient's ``idle_check()`` raises ``IMAP4.abort: unterminated line``
    when that happens, which made IDLE flaky. pymap always ``drain()``s after a complete
    response, so buffering until then sends whole lines, as production servers do.
    """

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._buffer = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write(bytes(self._buffer))
            self._buffer.clear()

    async def drain(self) -> None:
        self._flush()
        await self._writer.drain()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_extra_info, is_closing, wait_closed...) is the real writer's.
        return getattr(self._writer, name)


class _PymapThread:
    """pymap's IMAP service on its own event loop in a background thread."""

    def __init__(self, host: str) -> None:
        self._host = host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="maildesk-demo-imap", daemon=True)
        self._server: asyncio.Server | None = None
        self._config: _DemoImapConfig | None = None
        self._login: DictLogin | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> int:
        """Start listening on a free port of the host; returns the port."""
        self._thread.start()
        return self._call(self._start(), _START_TIMEOUT)

    async def _start(self) -> int:
        config = _DemoImapConfig(
            # Only read for settings we pass explicitly below; kept for pymap's own code.
            Namespace(passlib_cfg=None, proxy_protocol=None, inherited_sockets=None),
            host=self._host,
            port=0,
            demo_data=False,
            demo_user="",
            demo_password="",
            # Plain IMAP on loopback: maildesk's demo config connects without TLS. Passing a
            # context stops pymap from reading CERT_FILE/KEY_FILE from the environment.
            tls_enabled=False,
            ssl_context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
            # Demo passwords are throwaway and kept in memory anyway (for SMTP delivery);
            # the default 500k-round PBKDF2 would cost ~0.3 s of CPU per login.
            hash_context=Cleartext(),
            # The default CPU subsystem is a thread pool whose threads (and per-thread
            # event loops) would outlive stop(); plain asyncio keeps everything here.
            cpu_subsystem=Subsystem.for_asyncio(),
            invalid_user_sleep=0.0,
            reject_dnsbl=False,
        )
        config.apply_context()
        self._config = config
        # Built directly rather than via DictBackend.init(), which always adds pymap's
        # "demouser"/"demopass" account that we do not want.
        self._login = DictLogin(config)
        imap_server = IMAPServer(self._login, config)

        async def serve(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sock_info: SocketInfo
        ) -> None:
            coalescing = cast(asyncio.StreamWriter, _CoalescingWriter(writer))
            await imap_server(reader, coalescing, sock_info)

        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(serve)
        # pymap's IMAPService.start() would bind config.port but not tell us the port it got,
        # so we bind port 0 ourselves with the same server callback.
        self._server = await asyncio.start_server(callback, host=self._host, port=0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def add_user(self, name: str, password: str) -> None:
        self._call(self._add_user(name, password), _START_TIMEOUT)

    async def _add_user(self, name: str, password: str) -> None:
        assert self._config is not None and self._login is not None
        hashed = await Passwords(self._config).hash_password(password)
        user = UserMetadata(
            self._config,
            name,
            password=hashed,
            # Re-adding a mailbox just changes its password.
            previous_entity_tag=UserMetadata.REPLACE_ANY,
        )
        # Identity.set() is how pymap's own admin service stores users of the dict backend.
        await DictIdentity(name, self._login, None, frozenset()).set(user)

    def stop(self) -> None:
        if not self._thread.is_alive():
            # Never started (or already stopped): only the loop may still need closing.
            if self._thread.ident is None and not self._loop.is_closed():
                self._loop.close()
            return
        try:
            self._call(self._shutdown(), _STOP_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_STOP_TIMEOUT)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        # Connections live in their own tasks (created by proxyprotocol's reader); cancelling
        # them closes their sockets. Python 3.12+'s wait_closed() would otherwise wait for
        # every client to log out.
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await self._loop.shutdown_asyncgens()


class _MailboxDelivery:
    """The recorder's delivery step: into the INBOX of each demo-mailbox recipient, and a
    copy in ``sent/`` so a person running the demo can open what was "sent"."""

    def __init__(self, mailboxes: _Mailboxes, deliver: Callable[[str, str, bytes], None],
                 sent_dir: Path) -> None:
        self._mailboxes = mailboxes
        self._deliver = deliver
        self._sent_dir = sent_dir
        self._count = 0

    def __call__(self, message: Received) -> None:
        delivered: set[str] = set()
        for rcpt in message.rcpt_tos:
            creds = self._mailboxes.credentials(rcpt)
            # Recipients outside the demo are only recorded, as if relayed to the world.
            if creds is None or creds[0] in delivered:
                continue
            login, password = creds
            self._deliver(login, password, message.data)
            delivered.add(login)
        # Written before the message counts as sent: if that fails, it is not reported.
        self._sent_dir.mkdir(parents=True, exist_ok=True)
        self._count += 1
        (self._sent_dir / f"{self._count:04d}.eml").write_bytes(message.data)


@dataclass
class DemoMailServers:
    """Running demo IMAP + SMTP servers; stop with :meth:`stop` or use as a context manager.

    Mailboxes can be added before or after the servers started. Each message accepted over
    SMTP is delivered to the INBOX of its demo-mailbox recipients *before* the server answers
    250 and before it shows up in :meth:`sent`, so after :meth:`wait_for_sent` returns the
    mail is already in the INBOX.
    """

    imap_host: str
    imap_port: int
    smtp_host: str
    smtp_port: int
    workdir: Path
    _imap: _PymapThread = field(repr=False, compare=False)
    _smtp: SmtpRecorder = field(repr=False, compare=False)
    _handler: _MailboxDelivery = field(repr=False, compare=False)
    _mailboxes: _Mailboxes = field(repr=False, compare=False)
    _stopped: bool = field(default=False, repr=False, compare=False)

    def add_mailbox(self, address: str, password: str) -> None:
        """Create (or change the password of) a mailbox; its IMAP login name is *address*."""
        self._imap.add_user(address, password)
        self._mailboxes.add(address, password)

    @contextmanager
    def imap_client(self, address: str) -> Iterator[IMAPClient]:
        """An IMAPClient logged in as the mailbox *address*, logged out afterwards."""
        creds = self._mailboxes.credentials(address)
        if creds is None:
            raise KeyError(f"no demo mailbox {address!r}")
        with _imap_login(self.imap_host, self.imap_port, *creds) as client:
            yield client

    def append(self, address: str, raw: bytes, folder: str = "INBOX") -> None:
        """Drop *raw* into *folder* of a mailbox (IMAP APPEND as that user; creates folder)."""
        with self.imap_client(address) as client:
            _append(client, folder, raw)

    def messages(self, address: str, folder: str = "INBOX") -> list[bytes]:
        """The raw messages in *folder* of a mailbox, oldest (lowest UID) first."""
        with self.imap_client(address) as client:
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            fetched = client.fetch(uids, ["BODY.PEEK[]"])
            return [fetched[uid][b"BODY[]"] for uid in uids]

    def sent(self) -> list[SentMail]:
        """Every message the SMTP server accepted: ``(mail_from, rcpt_tos, data)``."""
        return [SentMail(m.mail_from, m.rcpt_tos, m.data) for m in self._smtp.messages]

    def wait_for_sent(self, count: int, timeout: float = 10) -> list[SentMail]:
        """Block until at least *count* messages were accepted; raise TimeoutError if not."""
        try:
            received = self._smtp.wait_for(count, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"demo SMTP server accepted {len(self._smtp.messages)} of {count} expected "
                f"messages within {timeout} s") from None
        return [SentMail(m.mail_from, m.rcpt_tos, m.data) for m in received]

    def stop(self) -> None:
        """Stop both servers and their threads; safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        # SMTP first: its pending deliveries need the IMAP server to still be up.
        try:
            self._smtp.stop()
        finally:
            self._imap.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def _imap_login(host: str, port: int, login: str, password: str) -> Iterator[IMAPClient]:
    client = IMAPClient(host, port=port, ssl=False, timeout=_IMAP_IO_TIMEOUT)
    # imaplib writes an APPEND literal and its closing CRLF as two small packets; with Nagle
    # on, the second waits for the server's delayed ACK, ~40 ms per APPEND on loopback.
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        client.login(login, password)
        yield client
    finally:
        try:
            client.logout()
        except Exception:
            # Not logged in or connection already gone: just drop the socket.
            with suppress(Exception):
                client.shutdown()


def _append(client: IMAPClient, folder: str, raw: bytes) -> None:
    if folder.upper() != "INBOX" and not client.folder_exists(folder):
        client.create_folder(folder)
    client.append(folder, raw)


def _deliver_via_imap(host: str, port: int) -> Callable[[str, str, bytes], None]:
    def deliver(login: str, password: str, data: bytes) -> None:
        with _imap_login(host, port, login, password) as client:
            _append(client, "INBOX", data)

    return deliver


def _wait_until_serving(host: str, port: int, greeting: bytes, deadline: float) -> None:
    """Poll until *host:port* accepts a connection and sends *greeting*, or fail."""
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0) as sock:
                banner = sock.recv(64)
        except OSError as exc:
            last_error = exc
            # A refused connect returns at once: pause briefly so a slow start is not a spin.
            time.sleep(0.02)
            continue
        if banner.startswith(greeting):
            return
        raise RuntimeError(f"unexpected greeting from {host}:{port}: {banner!r}")
    raise TimeoutError(f"demo server on {host}:{port} not ready: {last_error}")


def start_demo_servers(mailboxes: dict[str, str], workdir: Path) -> DemoMailServers:
    """Start the IMAP and SMTP servers on free 127.0.0.1 ports with these mailboxes.

    *mailboxes* maps address (also the IMAP login name) to password. *workdir* receives
    ``sent/NNNN.eml``, a copy of every message accepted over SMTP.
    """
    deadline = time.monotonic() + _START_TIMEOUT
    registry = _Mailboxes()
    imap = _PymapThread(DEMO_HOST)
    try:
        imap_port = imap.start()
        for address, password in mailboxes.items():
            imap.add_user(address, password)
            registry.add(address, password)
        _wait_until_serving(DEMO_HOST, imap_port, b"* OK", deadline)

        handler = _MailboxDelivery(
            registry, _deliver_via_imap(DEMO_HOST, imap_port), Path(workdir) / "sent"
        )
        # The tests' recording server, delivering into the demo's mailboxes. A fixed name:
        # the default would be socket.getfqdn(), a DNS lookup.
        smtp = SmtpRecorder(deliver=handler, ready_timeout=_START_TIMEOUT,
                            server_hostname="maildesk-demo")
        try:
            smtp.start()
            _wait_until_serving(DEMO_HOST, smtp.port, b"220", deadline)
        except BaseException:
            with suppress(Exception):
                smtp.stop()
            raise
    except BaseException:
        imap.stop()
        raise
    return DemoMailServers(
        imap_host=DEMO_HOST,
        imap_port=imap_port,
        smtp_host=DEMO_HOST,
        smtp_port=smtp.port,
        workdir=Path(workdir),
        _imap=imap,
        _smtp=smtp,
        _handler=handler,
        _mailboxes=registry,
    )
