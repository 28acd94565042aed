"""Sending through a station's SMTP server with aiosmtplib (the only module importing it).

Errors are sorted the way SMTP means them: a 4xx or a lost connection is temporary, a 5xx is
permanent for that recipient. A 4xx to some recipients only is `Deferred`: that mail waits,
the others go on; a 4xx to MAIL or DATA, or a lost connection, means the server is refusing
everything for now.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import Awaitable, Callable

import aiosmtplib

from maildesk.config.settings import Server
from maildesk.errors import PermanentError, TemporaryError
from maildesk.mail.oauth import TokenRenewalError, login_secret


@functools.cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class Deferred(TemporaryError):
    """The server put off this mail's recipients (a 4xx to RCPT); other mail may go."""


class DataDeferred(TemporaryError):
    """The server put off this mail at DATA (a 4xx other than 421): about this mail alone if
    the server takes the next one, otherwise the server is putting everything off."""


class SmtpSession:
    """One connection to a station's SMTP server, reused for several mails."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = aiosmtplib.SMTP(
            hostname=server.host, port=server.port, timeout=server.timeout,
            use_tls=server.security == "tls", start_tls=server.security == "starttls",
        )

    async def __aenter__(self) -> SmtpSession:
        if self.server.security != "plain":
            # Loading the CA certificates holds the GIL for tens of milliseconds: once per
            # process, and in a thread, never on the event loop.
            self.client.tls_context = await asyncio.to_thread(tls_context)
        try:
            await self.client.connect()
            if self.server.user and (self.server.password or self.server.oauth):
                if self.server.auth == "xoauth2":
                    # renewal is a blocking HTTP request: off the event loop
                    token = await asyncio.to_thread(login_secret, self.server)
                    await self.client.auth_xoauth2(self.server.user, token)
                else:
                    await self.client.login(self.server.user, self.server.password)
        except TokenRenewalError:
            self.client.close()
            raise
        except aiosmtplib.SMTPAuthenticationError as exc:
            self.client.close()  # __aexit__ does not run when __aenter__ fails
            raise PermanentError(f"SMTP login refused for {self.server.user}: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.client.close()
            raise TemporaryError(f"SMTP {self.server.host}:{self.server.port}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.client.quit()
        except (aiosmtplib.SMTPException, OSError):
            self.client.close()

    async def send(self, mail_from: str, rcpt_to: list[str], raw: bytes,
                   window: asyncio.Lock | None = None,
                   accepted: Callable[[], Awaitable[None]] | None = None) -> None:
        """Send one mail. `accepted` records it as sent; it runs right after the server's
        250 to DATA, inside `window`, which covers only DATA: a crash can leave at most one
        mail accepted but not recorded per window (sent again at the next start), while the
        envelopes of other connections go on in parallel."""
        # An internationalised address (राम@example.in) needs SMTPUTF8 (RFC 6531): asked for
        # when the server offers it; a server without it can never take this mail.
        utf8 = not (mail_from + "".join(rcpt_to)).isascii()
        client = self.client
        try:
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            if utf8 and not client.supports_extension("smtputf8"):
                raise PermanentError("SMTP: SMTPUTF8 is not supported by this server "
                                     "(needed for the internationalised address)")
            encoding = "utf-8" if utf8 else "ascii"
            await client.mail(mail_from, options=["SMTPUTF8"] if utf8 else [],
                              encoding=encoding)
            refused = []
            for rcpt in rcpt_to:
                try:
                    await client.rcpt(rcpt, encoding=encoding)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused.append(exc)
            if len(refused) == len(rcpt_to):
                await self._reset()
                error = "recipients refused: " + "; ".join(f"{r.recipient}: {r.code} "
                                                           f"{r.message}" for r in refused)
                if all(500 <= r.code < 600 for r in refused):
                    raise PermanentError(error)
                raise Deferred(error)
            try:
                async with window or contextlib.nullcontext():
                    await client.data(raw)
                    if accepted is not None:
                        await accepted()
            except aiosmtplib.SMTPResponseException as exc:
                if not 400 <= exc.code < 500 or exc.code == 421:  # 421: the server is closing
                    raise
                await self._reset()
                raise DataDeferred(f"SMTP {exc.code} to DATA: {exc.message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            error = f"SMTP {exc.code}: {exc.message}"
            if 500 <= exc.code < 600:
                raise PermanentError(error) from exc
            raise TemporaryError(error) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TemporaryError(f"SMTP: {exc}") from exc

    async def _reset(self) -> None:
        try:
            await self.client.rset()
        except (aiosmtplib.SMTPException, OSError):
            pass  # the next command says whether the connection is still good

