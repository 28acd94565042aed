"""IMAP IDLE (RFC 2177) on a bare, non-blocking socket, so that one thread can hold the IDLE
connections of many stations (watcher.py) instead of a thread each.

Logging in and selecting INBOX stay with imapclient (imap.py); then the socket is handed over
here. Not imapclient's idle_check(): it reads a non-blocking socket and raises when a response
arrives split across reads, losing the line (mjs/imapclient#519). Here whatever a socket has
is appended to a buffer, and only whole responses (a line, with any literals it announces) are
looked at; the rest waits for the next read.
"""

from __future__ import annotations

import re
import socket
import ssl

MAX_RESPONSE = 1 << 20  # an IDLE response is a few dozen bytes; a megabyte is a broken server
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n")


class IdleError(Exception):
    """The connection is no good for IDLE any more: close it and connect again."""


def take_response(buffer: bytearray) -> bytes | None:
    """Remove and return the first whole response in `buffer` (its last CRLF stripped), or
    None if it has not all arrived yet. A line ending in {N} goes on after N literal bytes."""
    start = 0
    while True:
        end = buffer.find(b"\r\n", start)
        if end < 0:
            if len(buffer) > MAX_RESPONSE:
                raise IdleError(f"a response of more than {MAX_RESPONSE} bytes")
            return None
        literal = _LITERAL.search(buffer, start, end + 2)
        if literal is None or literal.end() != end + 2:
            response = bytes(buffer[:end])
            del buffer[:end + 2]
            return response
        start = end + 2 + int(literal.group(1))
        if start > len(buffer):
            if start > MAX_RESPONSE:
                raise IdleError(f"a literal of {literal.group(1).decode()} bytes during IDLE")
            return None


def may_be_new_mail(response: bytes) -> bool:
    """New mail shows as EXISTS; keep-alives ("* OK Still here") and changes to mail that
    was already there (EXPUNGE after our own moves, FETCH for flags) do not need a pass.
    Anything else wakes the station, to be safe: a spurious wake costs one extra pass, a
    missed one would cost a resident their acknowledgement."""
    words = response[2:].split(None, 2)
    if not words or words[0].upper() in (b"OK", b"NO"):
        return False
    return not (len(words) > 1 and words[1].upper() in (b"EXPUNGE", b"FETCH"))


class IdleSession:
    """One selected mailbox idling. The owner calls `readable()` when select() says so and
    `due()` once `deadline` has passed; both return whether the station may have new mail
    and raise IdleError when the connection must be given up."""

    def __init__(self, sock: socket.socket, buffered: bytes, renew_seconds: float,
                 answer_seconds: float, now: float) -> None:
        self.sock = sock
        self.buffer = bytearray(buffered)
        self.renew_seconds, self.answer_seconds = renew_seconds, answer_seconds
        self.rounds = 0  # IDLEs ended with the server's OK: the connection works
        self.state = "asking"  # asking: IDLE sent; idling: "+" came; ending: DONE sent
        self._tag_count = 0
        self._begin(now)

    def fileno(self) -> int:
        return self.sock.fileno()

    def _tag(self) -> bytes:
        return b"mdi%d" % self._tag_count

    def _send(self, data: bytes) -> None:
        try:
            sent = self.sock.send(data)
        except (OSError, ssl.SSLError) as exc:
            raise IdleError(f"cannot write: {exc}") from exc
        if sent != len(data):  # a few bytes that do not fit: the server reads nothing
            raise IdleError("the server does not read what we send")

    def _begin(self, now: float) -> None:
        self._tag_count += 1
        self._send(self._tag() + b" IDLE\r\n")
        self.state, self.deadline = "asking", now + self.answer_seconds

    def readable(self, now: float) -> bool:
        """Read what the socket has and act on every whole response in it."""
        self._read()
        news = False
        while (response := take_response(self.buffer)) is not None:
            news |= self._handle(response, now)
        return news

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (OSError, ssl.SSLError) as exc:
                raise IdleError(f"cannot read: {exc}") from exc
            if not data:
                raise IdleError("the server closed the connection")
            self.buffer += data
            if len(self.buffer) > 2 * MAX_RESPONSE:
                raise IdleError("the server sends more than an idle mailbox would")

    def _handle(self, response: bytes, now: float) -> bool:
        if response.startswith(b"* "):
            return may_be_new_mail(response)
        tag, _, rest = response.partition(b" ")
        if response.startswith(b"+") and self.state == "asking":
            self.state, self.deadline = "idling", now + self.renew_seconds
            return False
        if tag == self._tag() and self.state == "ending" and rest[:2].upper() == b"OK":
            self.rounds += 1
            self._begin(now)
            return False
        raise IdleError(f"unexpected in IDLE: {response[:80]!r}")

    def due(self, now: float) -> None:
        """The deadline has passed: renew IDLE, or give up on a server that does not answer."""
        if self.state != "idling":
            raise IdleError(f"no answer to {'IDLE' if self.state == 'asking' else 'DONE'} "
                            f"in {self.answer_seconds:g} s")
        self._send(b"DONE\r\n")
        self.state, self.deadline = "ending", now + self.answer_seconds

    def say_goodbye(self) -> None:
        """End IDLE and log out, without waiting for the answer (we are stopping)."""
        if self.state == "idling":
            try:
                self._send(b"DONE\r\nmdi0 LOGOUT\r\n")
            except IdleError:
                pass
