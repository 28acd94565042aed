"""`maildesk check`: log in to every mailbox and SMTP server and say how it went."""

from __future__ import annotations

import asyncio

from maildesk.config.settings import Config, Station
from maildesk.errors import PermanentError, TemporaryError
from maildesk.intake.imap import Mailbox
from maildesk.mail.smtp import SmtpSession


def _check_imap(station: Station) -> str:
    mailbox = Mailbox(station.imap, station.inbox, station.processed_folder)
    try:
        mailbox.connect()
        mailbox.select_inbox()
        waiting = len(mailbox.uids())
        idle = "IDLE" if "IDLE" in mailbox.capabilities() else "no IDLE"
        return f"ok ({waiting} waiting, {idle})"
    except (TemporaryError, PermanentError) as exc:
        return f"FAILED: {exc}"
    finally:
        mailbox.close()


async def _check_smtp(station: Station) -> str:
    try:
        async with SmtpSession(station.smtp):
            return "ok"
    except (TemporaryError, PermanentError) as exc:
        return f"FAILED: {exc}"


async def check_servers(config: Config) -> list[tuple[str, str, str]]:
    """(station, imap verdict, smtp verdict) for every station, checked in parallel."""
    loop = asyncio.get_running_loop()

    async def one(station: Station) -> tuple[str, str, str]:
        imap, smtp = await asyncio.gather(loop.run_in_executor(None, _check_imap, station),
                                          _check_smtp(station))
        return station.code, imap, smtp

    return list(await asyncio.gather(*(one(s) for s in config.stations)))
