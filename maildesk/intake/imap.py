"""One station's IMAP mailbox, through imapclient (the only module that imports it).

imapclient is blocking: callers run these methods in worker threads.
"""

from __future__ import annotations

import functools
import imaplib
import logging
import socket
import ssl
from collections.abc import Iterable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from maildesk.config.settings import Server
from maildesk.errors import PermanentError, TemporaryError
from maildesk.mail.oauth import TokenRenewalError, login_secret

log = logging.getLogger(__name__)

# Failures of the network or the server: try again later. A refused login is permanent
# until someone fixes the password, but we keep retrying it with backoff as well.
NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.abort, IMAPClientError)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One per process: loading the CA certificates holds the GIL for tens of milliseconds,
    which would stall the event loop at every connection."""
    return ssl.create_default_context()


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Mailbox:
    """INBOX of one station, and the folder processed mail moves to."""

    def __init__(self, server: Server, inbox: str = "INBOX",
                 processed: str = "maildesk-processed") -> None:
        self.server, self.inbox, self.processed = server, inbox, processed
        self.client: IMAPClient | None = None
        self._processed_exists = False

    # -- connection --------------------------------------------------------------------------

    def connect(self) -> None:
        server = self.server
        context = tls_context() if server.security != "plain" else None
        try:
            client = IMAPClient(server.host, port=server.port, ssl=server.security == "tls",
                                ssl_context=context, timeout=server.timeout)
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"IMAP {server.host}:{server.port}: {exc}") from exc
        self.client = client
        try:
            if server.security == "starttls":
                client.starttls(context)
            if server.auth == "xoauth2":
                client.oauth2_login(server.user, login_secret(server))
            else:
                client.login(server.user, server.password)
        except TokenRenewalError:
            self.close()
            raise
        except LoginError as exc:
            self.close()
            raise PermanentError(f"IMAP login refused for {server.user}: {exc}") from exc
        except NETWORK_ERRORS as exc:
            self.close()
            raise TemporaryError(f"IMAP {server.host}:{server.port}: {exc}") from exc

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail any way
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self) -> Mailbox:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _client(self) -> IMAPClient:
        if self.client is None:
            raise TemporaryError("not connected")
        return self.client

    def capabilities(self) -> set[str]:
        try:  # after login imapclient may have to ask the server
            return {c.decode().upper() for c in self._client().capabilities()}
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"CAPABILITY: {exc}") from exc

    # -- reading ----------------------------------------------------------------------------

    def select_inbox(self) -> int:
        """Select INBOX; returns its UIDVALIDITY."""
        try:
            info = self._client().select_folder(self.inbox)
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"select {self.inbox}: {exc}") from exc
        if b"UIDVALIDITY" not in info:
            raise TemporaryError(f"select {self.inbox}: the server sent no UIDVALIDITY")
        return int(info[b"UIDVALIDITY"])

    def uids(self) -> list[int]:
        """UIDs of mail in INBOX not already flagged deleted (a COPY+flag move in progress)."""
        try:
            return sorted(int(u) for u in self._client().search(["NOT", "DELETED"]))
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"search {self.inbox}: {exc}") from exc

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of these mails: what a FETCH of them would bring into memory."""
        sizes: dict[int, int] = {}
        try:
            for chunk in _chunks(uids, 500):
                for uid, data in self._client().fetch(chunk, ["RFC822.SIZE"]).items():
                    if b"RFC822.SIZE" in data:
                        sizes[int(uid)] = int(data[b"RFC822.SIZE"])
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"sizes in {self.inbox}: {exc}") from exc
        return sizes

    def fetch(self, uids: list[int], first_bytes: int | None = None) -> dict[int, bytes]:
        """Raw bytes of these mails (only their first `first_bytes`, if given); PEEK so
        nothing is marked seen before it is recorded."""
        part = "BODY.PEEK[]" if first_bytes is None else f"BODY.PEEK[]<0.{first_bytes}>"
        try:
            response = self._client().fetch(uids, [part])
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"fetch from {self.inbox}: {exc}") from exc
        mails = {}
        for uid, data in response.items():
            # b"BODY[]", or b"BODY[]<0>" for a partial fetch
            body = next((v for k, v in data.items() if k.startswith(b"BODY[]")), None)
            if body is not None:
                mails[int(uid)] = bytes(body)
        return mails

    # -- moving processed mail ----------------------------------------------------------------

    def _ensure_processed_folder(self) -> None:
        if self._processed_exists:
            return
        client = self._client()
        if not client.folder_exists(self.processed):
            try:
                client.create_folder(self.processed)
            except IMAPClientError:
                if not client.folder_exists(self.processed):  # made by a racing connection?
                    raise
        self._processed_exists = True

    def move_processed(self, uids: list[int]) -> None:
        """Move recorded mail out of INBOX: MOVE where offered, else COPY, flag, expunge."""
        if not uids:
            return
        try:
            self._ensure_processed_folder()
            client = self._client()
            has_move = client.has_capability("MOVE")
            for chunk in _chunks(uids, 500):
                if has_move:
                    client.move(chunk, self.processed)
                else:
                    client.copy(chunk, self.processed)
                    client.add_flags(chunk, [b"\\Deleted"])
                    if client.has_capability("UIDPLUS"):
                        client.uid_expunge(chunk)
                    else:
                        client.expunge()
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"move to {self.processed}: {exc}") from exc

    # -- handing the connection over for IDLE ----------------------------------------------------

    def idle_socket(self) -> tuple[socket.socket, bytes]:
        """The connection's socket, non-blocking, for IDLE on the bare socket (idle.py), and
        whatever imaplib had already read from it but not used (a reply that came in the
        same packet as the last one). imaplib must not read from it again: `abandon()` it."""
        client = self._client()
        reader = client._imap.file  # imaplib's buffered reader of the socket
        sock = client.socket()
        sock.setblocking(False)
        try:  # what the reader holds (with an empty buffer, one read of the socket)
            buffered = bytes(reader.peek(65536))
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            buffered = b""
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"IDLE on {self.inbox}: {exc}") from exc
        # A closed connection also reads as b"" here: the first read in IDLE will tell.
        return sock, buffered

    def abandon(self) -> None:
        """Close the connection without a word (after idle_socket(): imaplib no longer knows
        where the conversation is)."""
        client, self.client = self.client, None
        if client is not None:
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail any way
                pass
