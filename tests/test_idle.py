"""The IDLE watchers (maildesk/intake/watcher.py, idle.py) against a scripted fake IMAP server,
for what Dovecot never does on demand: a response split across TCP reads (the trap of
mjs/imapclient#519, where imapclient's idle_check() raises and loses the line), a reply in the
same packet as "+ idling", a literal, a connection closed in the middle of IDLE, garbage, and
a server that stops answering. tests/test_idle_many.py has many stations on the real Dovecot.

The fake speaks just enough IMAP for `Mailbox` (greeting, LOGIN, CAPABILITY, SELECT, IDLE,
DONE, LOGOUT); what it does once the client is idling is each test's script. It serves one
connection after another, so reconnecting can be seen. Scripts synchronise with the client's
own actions (they wait for its next line, with a deadline), and tests with the watchers'
wakes and state (a condition with a deadline), never with sleeps.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from maildesk.config.settings import Server, Station
from maildesk.intake.idle import IdleError, take_response
from maildesk.intake.watcher import Watchers

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
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):  # the client may hang up at any time
            self.closed = True

    def line(self) -> bytes:
        """The client's next line (b"" once it has closed); socket.timeout after DEADLINE."""
        if self.pending is not None:
            line, self.pending = self.pending, None
            return line
        try:
            return self.reader.readline()
        except ConnectionResetError:
            return b""

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
    """Connections one after another, served by a thread; `idle(session, tag)` runs on every
    IDLE. `sessions` counts the connections accepted."""

    def __init__(self, idle: Script, connections: int = 1) -> None:
        self.idle, self.connections = idle, connections
        self.sessions = 0
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

    def server(self, timeout: float = DEADLINE) -> Server:
        return Server(host="127.0.0.1", port=self.port, security="plain", user="st1",
                      password="secret", timeout=timeout)

    def station(self, timeout: float = DEADLINE) -> Station:
        return Station(code="FAKE", name="Fake Police Station", zone="Z",
                       address="fake.ps@maildesk.test", language="en", officers=(),
                       imap=self.server(timeout), smtp=self.server())

    def _serve(self) -> None:
        try:
            for _ in range(self.connections):
                conn, _ = self.listener.accept()
                self.sessions += 1
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


class Wakes:
    """What the watchers told the daemon, with a condition to wait on."""

    def __init__(self, deadline: float = DEADLINE) -> None:
        self.seen: list[tuple[str, str]] = []
        self.cond = threading.Condition()
        self.deadline = deadline

    def __call__(self, code: str, why: str) -> None:
        with self.cond:
            self.seen.append((code, why))
            self.cond.notify_all()

    def count(self, why: str, code: str = "FAKE") -> int:
        with self.cond:
            return self.seen.count((code, why))

    def woken(self, why: str) -> set[str]:
        """The stations woken for `why`."""
        with self.cond:
            return {code for code, reason in self.seen if reason == why}

    def wait(self, why: str, count: int = 1, code: str = "FAKE") -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.seen.count((code, why)) >= count,
                                      self.deadline), f"no {why!r} for {code}: {self.seen}"


@contextmanager
def watching(fake: FakeImap, idle_seconds: float = LONG_IDLE,
             timeout: float = DEADLINE) -> Iterator[tuple[Watchers, Wakes]]:
    wakes = Wakes()
    watchers = Watchers(wakes, connectors=1, idle_seconds=idle_seconds)
    watchers.start()
    watchers.watch(fake.station(timeout))
    try:
        yield watchers, wakes
    finally:
        watchers.stop()
        assert watchers.join(DEADLINE), "the watchers did not stop"


def idling(watchers: Watchers, connections: int = 1) -> None:
    assert watchers.wait_for(lambda: "FAKE" in watchers.idling and watchers.connections.get(
        "FAKE") == connections, DEADLINE), (watchers.idling, watchers.connections)


# -- the parser, byte by byte -----------------------------------------------------------------

def test_a_response_split_anywhere_waits_for_its_end():
    whole = b"* 1 EXISTS\r\n* OK Still here\r\n"
    for cut in range(1, len(whole)):
        buffer = bytearray(whole[:cut])
        first = take_response(buffer)
        buffer += whole[cut:]
        responses = [first] if first is not None else []
        while (response := take_response(buffer)) is not None:
            responses.append(response)
        assert responses == [b"* 1 EXISTS", b"* OK Still here"], cut
        assert buffer == b""


def test_a_literal_is_part_of_its_response_even_with_a_line_end_inside():
    buffer = bytearray(b"* 1 FETCH (X-LABEL {7}\r\nab\r\ncd")
    assert take_response(buffer) is None  # the literal has not all arrived
    buffer += b"e FLAGS (\\Seen))\r\n* 2 EXISTS\r\n"
    assert take_response(buffer) == b"* 1 FETCH (X-LABEL {7}\r\nab\r\ncde FLAGS (\\Seen))"
    assert take_response(buffer) == b"* 2 EXISTS"


def test_an_endless_line_is_refused():
    with pytest.raises(IdleError):
        take_response(bytearray(b"* " + b"x" * 1_100_000))


# -- the watchers against the fake server ------------------------------------------------------

def test_exists_split_across_two_reads_wakes_and_keeps_the_connection():
    renewed = threading.Event()

    def split_exists(s: Session, tag: bytes) -> None:
        if renewed.is_set() or s.closed:
            s.send(b"+ idling\r\n")
            s.finish_idle(tag)
            return
        s.send(b"+ idling\r\n")
        s.send(b"* 1 EXI")
        # Nothing more until the client renews IDLE (its DONE): it read the half line alone.
        line = s.line()
        s.send(b"STS\r\n")
        if line.strip() == b"DONE":
            s.send(tag + b" OK Idle completed\r\n")
            renewed.set()
        else:
            s.pending = line

    with FakeImap(split_exists) as fake, watching(fake, idle_seconds=0.5) as (watchers, wakes):
        wakes.wait("IDLE reports new mail")
        assert renewed.wait(DEADLINE)
        idling(watchers)  # IDLE again, on the same connection
        assert wakes.count("IDLE connection lost") == 0


def test_reply_in_the_same_packet_as_the_continuation():
    def eager(s: Session, tag: bytes) -> None:
        # One send: imaplib or the watcher reads both lines at once.
        s.send(b"+ idling\r\n* 1 EXISTS\r\n")
        s.finish_idle(tag)

    with FakeImap(eager) as fake, watching(fake) as (watchers, wakes):
        wakes.wait("IDLE reports new mail")
        idling(watchers)


def test_only_news_of_new_mail_wakes():
    rounds = iter([b"* 1 EXISTS\r\n", b"* OK Still here\r\n", b"* 1 EXPUNGE\r\n",
                   b"* 1 FETCH (FLAGS (\\Seen) X-NOTE {4}\r\n1 EX)\r\n", b"* 3 RECENT\r\n"])
    fifth = threading.Event()

    def one_response(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        response = next(rounds, None)
        if response is None:
            fifth.set()
        else:
            s.send(response)
        s.finish_idle(tag)

    with FakeImap(one_response) as fake, watching(fake, idle_seconds=0.2) as (watchers, wakes):
        assert fifth.wait(DEADLINE)
        # Each round's response was handled before its DONE, so before the sixth IDLE.
        assert wakes.count("IDLE reports new mail") == 2
        assert wakes.count("IDLE connected") == 1
        assert watchers.connections == {"FAKE": 1}


def test_mail_announced_in_the_reply_to_done_counts():
    """Mail can arrive after the server last spoke but before it saw DONE: the server then
    reports it before its tagged OK, and that must wake the station too."""
    done = threading.Event()

    def late_mail(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        if done.is_set():
            s.finish_idle(tag)
        elif s.finish_idle(tag, untagged=b"* 2 EXISTS\r\n") == b"DONE\r\n":
            done.set()

    with FakeImap(late_mail) as fake, watching(fake, idle_seconds=0.2) as (watchers, wakes):
        wakes.wait("IDLE reports new mail")
        assert done.is_set()


def test_stop_ends_idle_and_logs_out_at_once():
    def quiet(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        s.finish_idle(tag)

    with FakeImap(quiet) as fake:
        with watching(fake) as (watchers, wakes):
            idling(watchers)
            threads = [watchers.thread, *watchers.connectors]
        # watching() stopped them within DEADLINE, far inside LONG_IDLE
        assert not any(t.is_alive() for t in threads)
    assert [c.split()[1:] for c in fake.commands[-2:]] == [[b"IDLE"], [b"LOGOUT"]]


@pytest.mark.parametrize("before_close", [b"", b"* 1 EXI", b"* BYE shutting down\r\n"],
                         ids=["silent", "half-line", "bye"])
def test_server_closing_during_idle_wakes_and_reconnects(before_close):
    def hang_up(s: Session, tag: bytes) -> None:
        if fake.sessions == 1:
            s.send(b"+ idling\r\n" + before_close)
            s.close()
        else:
            s.send(b"+ idling\r\n")
            s.finish_idle(tag)

    with FakeImap(hang_up, connections=2) as fake, watching(fake) as (watchers, wakes):
        wakes.wait("IDLE connection lost")
        idling(watchers, connections=2)
        wakes.wait("IDLE connected", count=2)


@pytest.mark.parametrize(("garbage", "reconnects"), [
    (b"\x00\xff\xfe what is this\r\n", True),
    (b"* 1 EXISTS ((( unbalanced\r\n", False),  # untagged: may be mail, so it wakes
    (b"+ another continuation\r\n", True),
    (b"A999 OK a tag nobody sent\r\n", True),
    (b"* " + b"x" * 1_100_000, True),  # no line end within a megabyte
], ids=["binary", "unparseable", "continuation", "stray-tag", "endless-line"])
def test_garbage_during_idle_wakes_and_never_ends_the_watching(garbage, reconnects):
    def babble(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        if fake.sessions == 1 and not s.closed:
            s.send(garbage)
        s.finish_idle(tag)

    with FakeImap(babble, connections=1 + reconnects) as fake, watching(fake) as (watchers,
                                                                                   wakes):
        if reconnects:
            wakes.wait("IDLE connection lost")
            idling(watchers, connections=2)
        else:
            wakes.wait("IDLE reports new mail")
            idling(watchers)


def test_a_server_that_stops_answering_is_left_for_a_new_connection():
    def deaf(s: Session, tag: bytes) -> None:
        s.send(b"+ idling\r\n")
        if fake.sessions == 1:
            assert s.line() == b"DONE\r\n"  # and no answer: the watcher must give up
            s.line()  # until it hangs up
            s.closed = True
        else:
            s.finish_idle(tag)

    with FakeImap(deaf, connections=2) as fake, watching(fake, idle_seconds=0.2,
                                                         timeout=1) as (watchers, wakes):
        wakes.wait("IDLE connection lost")
        idling(watchers, connections=2)


def test_stop_does_not_wait_for_a_server_that_never_greets():
    """A connector stuck in connect() holds up neither the watching thread nor stop(): it is
    a daemon thread, and what it brings back later is closed, not watched."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), says nothing
        port = silent.getsockname()[1]
        station = Station(code="MUTE", name="Mute Police Station", zone="Z",
                          address="mute.ps@maildesk.test", language="en", officers=(),
                          imap=Server(host="127.0.0.1", port=port, security="plain", user="u",
                                      password="p", timeout=LONG_IDLE),
                          smtp=Server(host="127.0.0.1", port=port, security="plain", user="u",
                                      password="p"))
        watchers = Watchers(Wakes(), connectors=1)
        watchers.start()
        watchers.watch(station)
        conn, _ = silent.accept()  # the connector is connected and waits for a greeting
        with conn:
            watchers.stop()
            watchers.thread.join(DEADLINE)
            assert not watchers.thread.is_alive()
            assert watchers.join(0) is False  # the connector still waits for the greeting
            assert all(t.daemon for t in watchers.connectors)
