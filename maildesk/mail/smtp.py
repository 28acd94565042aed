"""Sending through a station's SMTP server with aiosmtplib (the only module importing it).

Errors are sorted the way SMTP means them: a 4xx or a lost connection is temporary, a 5xx is
permanent for that recipient.
"""

from __future__ import annotations

import asyncio
import ssl

import aiosmtplib

from maildesk.config.settings import Server
from maildesk.errors import PermanentError, TemporaryError
from maildesk.mail.oauth import TokenRenewalError, login_secret


class SmtpSession:
    """One connection to a station's SMTP server, reused for several mails."""

    def __init__(self, server: Server) -> None:
        self.server = server
        context = ssl.create_default_context()
        self.client = aiosmtplib.SMTP(
            hostname=server.host, port=server.port, timeout=server.timeout,
            use_tls=server.security == "tls", start_tls=server.security == "starttls",
            tls_context=context,
        )

    async def __aenter__(self) -> SmtpSession:
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

    async def send(self, mail_from: str, rcpt_to: list[str], raw: bytes) -> None:
        # An internationalised address (राम@example.in) needs SMTPUTF8 (RFC 6531): asked for
        # when the server offers it; a server without it can never take this mail
        # (aiosmtplib checks the server's EHLO and raises SMTPNotSupported).
        options = [] if (mail_from + "".join(rcpt_to)).isascii() else ["SMTPUTF8"]
        try:
            _, message = await self.client.sendmail(mail_from, rcpt_to, raw,
                                                    mail_options=options)
        except aiosmtplib.SMTPNotSupported as exc:
            raise PermanentError(f"SMTP: {exc} (needed for the internationalised "
                                 "address)") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = f"recipients refused: {exc}"
            if all(500 <= code < 600 for code in codes):
                raise PermanentError(error) from exc
            raise TemporaryError(error) from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.code}: {exc.message}"
            if 500 <= exc.code < 600:
                raise PermanentError(error) from exc
            raise TemporaryError(error) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TemporaryError(f"SMTP: {exc}") from exc
