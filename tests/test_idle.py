"""`Mailbox.wait_for_mail()` against a scripted fake IMAP server, for what Dovecot never does
on demand: a response split across TCP reads (the trap of mjs/imapclient#519, where
imapclient's idle_check() raises and loses the line), a reply in the same packet as
"+ idling", a connection closed in the middle of IDLE, and garbage.

The fake speaks just enough IMAP for `Mailbox` (greeting, LOGIN, CAPABILITY, SELECT, IDLE,
DONE, LOGOUT); what it does once the client is idling is each test's script. Scripts
synchronise with the client's own actions (they wait for its next line, with a deadline),
never with sleeps.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest

from maildesk.config.settings import Server
from maildesk.intake.imap import Mailbox

DEADLINE = 10  # seconds any single step may take before the test fails
LONG_IDLE = 60  # an IDLE timeout the client must never have to wait out in these tests


class Session:
    """The server's side of one connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.pending: bytes | None = None  # a line a script read but did not handle
        self.closed = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        """The client's next line (b"" once it has closed); socket.timeout after DEADLINE."""
        if self.pending is not None:
            line, self.pending = self.pending, None
            return line
        return self.reader.readline()

    def finish_idle(self, tag: bytes, untagged: bytes = b"") -> bytes:
        """Read the client's next line; if it is DONE, end IDLE (with `untagged` first).
        Anything else is left for the command loop. Returns the line."""
        line = self.line()
        if line.strip().upper() == b"DONE":
            self.send(untagged + tag + b" OK Idle completed\r\n")
        else:
            self.pending = line
        return line

    def close(self) -> None:
        self.closed = True
        self.sock.shutdown(socket.SHUT_RDWR)


Script = Callable[[Session, bytes], None]


class FakeImap:
    """One connection, served by a thread; `idle(session, tag)` runs on every IDLE."""

    def __init__(self, idle: Script) -> None:
        self.idle = idle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEADLINE)
        self.port = self.listener.getsockname()[1]
        self.commands: list[bytes] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="fake-imap", daemon=True)

    def __enter__(self) -> FakeImap:
        self.thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.listener.close()
        self.thread.join(DEADLINE)
        if exc_type is not None:
            return  # the test's own failure says more than the server's
        assert not self.thread.is_alive(), "the fake IMAP server did not finish"
        if self.error is not None:
            raise self.error

    def server(self) -> Server:
        return Server(host="127.0.0.1", port=self.port, security="plain", user="st1",
                      password="secret", timeout=DEADLINE)

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(DEADLINE)
                # Every send() leaves at once as its own segment: the splits are real.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._converse(Session(conn))
        except BaseException as exc:  # noqa: BLE001 - reported by __exit__ in the test
            self.error = exc

    def _converse(self, s: Session) -> None:
        s.send(b"* OK [CAPABILITY IMAP4rev1 IDLE] fake ready\r\n")
        while not s.closed:
            line = s.line()
            if not line:
                return
            self.commands.append(line)
            tag, command = (line.split(b" ", 2) + [b""])[:2]
            command = command.strip().upper()
            if command == b"LOGIN":
                s.send(tag + b" OK [CAPABILITY IMAP4rev1 IDLE] logged in\r\n")
            elif command == b"CAPABILITY":
                s.send(b"* CAPABILITY IMAP4rev1 IDLE\r\n" + tag + b" OK done\r\n")
            elif command == b"SELECT":
                s.send(b"* 0 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n"
                       b"* OK [UIDVALIDITY 42] ok\r\n* OK [UIDNEXT 1] ok\r\n"
                       + tag + b" OK [READ-WRITE] selected\r\n")
            elif command == b"IDLE":
                self.idle(s, tag)
            elif command == b"LOGOUT":
                s.send(b"* BYE see you\r\n" + tag + b" OK bye\r\n")
                return
            else:
                s.send(tag + b" BAD unknown command\r\n")


def connected(fake: FakeImap) -> Mailbox:
    mailbox = Mailbox(fake.server())
    mailbox.connect()
    assert mailbox.select_inbox() == 42
    return mailbox


def test_exists_split_across_two_reads_wakes_and_keeps_the_connection():
    reactions = []

    def split_exists(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        s.send(b"* 1 EXI")
        # Nothing more until the client reacts: so it has seen half a line, alone.
        reactions.append(s.line())
        s.send(b"STS\r\n")
        if reactions[0].strip() == b"DONE":
            s.send(tag + b" OK Idle completed\r\n")
        else:
            s.pending = reactions[0]

    with FakeImap(split_exists) as fake:
        mailbox = connected(fake)
        assert mailbox.wait_for_mail(LONG_IDLE) is True
        # The client answered the half line with DONE and read the rest in a later read:
        # the split really happened, and the connection is still good to idle on.
        assert reactions == [b"DONE\r\n"]
        assert mailbox.client is not None
        mailbox.close()


def test_reply_in_the_same_packet_as_the_continuation():
    def eager(s: Session, tag: bytes) -> None:
        # One send: imaplib reads both lines at once while waiting for "+ idling", and the
        # EXISTS waits in its buffer, invisible to select() on the socket.
        s.send(b"+ idling\r\n* 1 EXISTS\r\n")
        assert s.finish_idle(tag) == b"DONE\r\n"

    with FakeImap(eager) as fake:
        mailbox = connected(fake)
        assert mailbox.wait_for_mail(LONG_IDLE) is True
        assert mailbox.client is not None
        mailbox.close()


def test_whole_exists_and_keepalive_and_expunge():
    rounds = iter([b"* 1 EXISTS\r\n", b"* OK Still here\r\n", b"* 1 EXPUNGE\r\n",
                   b"* 3 RECENT\r\n"])

    def one_response(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        s.send(next(rounds))
        assert s.finish_idle(tag) == b"DONE\r\n"

    with FakeImap(one_response) as fake:
        mailbox = connected(fake)
        results = [mailbox.wait_for_mail(LONG_IDLE) for _ in range(4)]
        assert results == [True, False, False, True]
        assert mailbox.client is not None
        mailbox.close()


def test_mail_announced_in_the_reply_to_done_counts():
    """Mail can arrive after the wait ended but before the server saw DONE: the server then
    reports it before its tagged OK, and that must wake the station too."""
    wake_r, wake_w = socket.socketpair()

    def late_mail(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        wake_w.send(b"!")  # ends the client's wait without a word from the server
        assert s.finish_idle(tag, untagged=b"* 2 EXISTS\r\n") == b"DONE\r\n"

    with wake_r, wake_w, FakeImap(late_mail) as fake:
        mailbox = connected(fake)
        assert mailbox.wait_for_mail(LONG_IDLE, interrupt=wake_r) is True
        mailbox.close()


def test_interrupt_ends_the_wait_at_once_and_cleanly():
    wake_r, wake_w = socket.socketpair()

    def quiet(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        wake_w.send(b"!")
        assert s.finish_idle(tag) == b"DONE\r\n"

    with wake_r, wake_w, FakeImap(quiet) as fake:
        mailbox = connected(fake)
        assert mailbox.wait_for_mail(LONG_IDLE, interrupt=wake_r) is False
        assert mailbox.client is not None
        mailbox.close()
        assert fake.commands[-1].split()[1:] == [b"LOGOUT"]


def test_timeout_without_news():
    def silent(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        assert s.finish_idle(tag) == b"DONE\r\n"

    with FakeImap(silent) as fake:
        mailbox = connected(fake)
        assert mailbox.wait_for_mail(0.2) is False
        assert mailbox.client is not None
        mailbox.close()


@pytest.mark.parametrize("before_close", [b"", b"* 1 EXI", b"* BYE shutting down\r\n"],
                         ids=["silent", "half-line", "bye"])
def test_server_closing_during_idle_wakes_and_disconnects(before_close):
    def hang_up(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n" + before_close)
        s.close()

    with FakeImap(hang_up) as fake:
        mailbox = connected(fake)
        assert mailbox.wait_for_mail(LONG_IDLE) is True
        assert mailbox.client is None  # the watcher reconnects


@pytest.mark.parametrize("garbage", [
    b"\x00\xff\xfe what is this\r\n",
    b"* 1 EXISTS ((( unbalanced\r\n",
    b"+ another continuation\r\n",
    b"A999 OK a tag nobody sent\r\n",
    b"* " + b"x" * 1_100_000,  # no line end within imaplib's limit
], ids=["binary", "unparseable", "continuation", "stray-tag", "endless-line"])
def test_garbage_during_idle_wakes_and_disconnects(garbage):
    def babble(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        s.send(garbage)
        line = s.finish_idle(tag)
        assert line == b"DONE\r\n"

    with FakeImap(babble) as fake:
        mailbox = connected(fake)
        assert mailbox.wait_for_mail(LONG_IDLE) is True
        assert mailbox.client is None
