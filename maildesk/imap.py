"""One station's IMAP mailbox, through imapclient (the only module that imports it).

imapclient is blocking: callers run these methods in worker threads.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections.abc import Iterable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from maildesk.config import Server
from maildesk.errors import PermanentError, TemporaryError

log = logging.getLogger(__name__)

# Failures of the network or the server: try again later. A refused login is permanent
# until someone fixes the password, but we keep retrying it with backoff as well.
NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.abort, IMAPClientError)


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
        context = ssl.create_default_context()
        try:
            client = IMAPClient(server.host, port=server.port, ssl=server.security == "tls",
                                ssl_context=context, timeout=server.timeout)
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"IMAP {server.host}:{server.port}: {exc}") from exc
        self.client = client
        try:
            if server.security == "starttls":
                client.starttls(context)
            client.login(server.user, server.password)
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
        return {c.decode().upper() for c in self._client().capabilities()}

    # -- reading ----------------------------------------------------------------------------

    def select_inbox(self) -> int:
        """Select INBOX; returns its UIDVALIDITY."""
        try:
            info = self._client().select_folder(self.inbox)
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"select {self.inbox}: {exc}") from exc
        return int(info[b"UIDVALIDITY"])

    def uids(self) -> list[int]:
        """UIDs of mail in INBOX not already flagged deleted (a COPY+flag move in progress)."""
        try:
            return sorted(int(u) for u in self._client().search(["NOT", "DELETED"]))
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"search {self.inbox}: {exc}") from exc

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """Raw bytes of these mails; PEEK so nothing is marked seen before it is recorded."""
        try:
            response = self._client().fetch(uids, ["BODY.PEEK[]"])
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"fetch from {self.inbox}: {exc}") from exc
        mails = {}
        for uid, data in response.items():
            body = data.get(b"BODY[]")
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

    # -- waiting for new mail ---------------------------------------------------------------

    def wait_for_mail(self, timeout: float) -> bool:
        """IDLE on INBOX until the server says something or `timeout` passes.

        Returns True when something may have arrived. Any trouble while idling also returns
        True — guarding imapclient's idle_check(), which can raise when a response arrives
        split across reads (mjs/imapclient#519): a spurious wake costs one extra poll, a
        missed one would cost a resident their acknowledgement.
        """
        client = self._client()
        try:
            client.idle()
        except NETWORK_ERRORS as exc:
            raise TemporaryError(f"IDLE: {exc}") from exc
        try:
            responses = client.idle_check(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.info("IDLE on %s ended early (%s); polling", self.server.user, exc)
            self.close()
            return True
        try:
            client.idle_done()
        except Exception as exc:  # noqa: BLE001
            log.info("IDLE DONE on %s failed (%s); reconnecting", self.server.user, exc)
            self.close()
            return True
        return bool(responses)
