"""One station's conversation on the test servers: mail in through Dovecot, mail out through
the recording SMTP server. Every integration test builds its scene from this (fixture
``conversation`` in conftest.py) instead of its own harness."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path

from deskenv import StationAccount, config_for, parse, resident_mail
from servers import Dovecot, MailboxUser, SmtpRecorder

from maildesk.clock import Clock
from maildesk.config.settings import Config
from maildesk.daemon import poll_once
from maildesk.store.db import Store

OFFICER = "si.mukherjee@maildesk.test"
OTHER_OFFICER = "si.ghosh@maildesk.test"
RESIDENT = "amit.sharma@yahoo.co.in"


class Conversation:
    """Behala (BHL) with one officer, Lake Town (LKT) with another, and what each party received."""

    def __init__(self, tmp_path: Path, dovecot: Dovecot, user: MailboxUser, smtp: SmtpRecorder,
                 **station: object) -> None:
        self.tmp_path, self.dovecot, self.smtp = tmp_path, dovecot, smtp
        self.bhl = StationAccount("BHL", user.name, user.password, (OFFICER,))
        lkt_user = dovecot.add_user(f"{user.name}lkt", "lkt-password")
        self.lkt = StationAccount("LKT", lkt_user.name, lkt_user.password, (OTHER_OFFICER,))
        self.configure(**station)
        self.count = 0

    def configure(self, **station: object) -> Config:
        """(Re)write the configuration with desk-wide settings (``require_authentication`` ...)."""
        self.config = config_for(self.tmp_path, (self.dovecot.host, self.dovecot.port),
                                 (self.smtp.host, self.smtp.port), [self.bhl, self.lkt], **station)
        return self.config

    def deliver(self, *raws: bytes, station: StationAccount | None = None) -> None:
        """Mails into a station's INBOX (Behala's unless named), over one IMAP session."""
        with self.dovecot.client((station or self.bhl).user) as imap:
            for raw in raws:
                imap.append("INBOX", raw)

    def send(self, sender: str, subject: str, body: str = "Please help.", extra: str = "",
             message_id: str | None = None, station: StationAccount | None = None) -> str:
        """A plain mail from `sender` to a station; returns its Message-ID."""
        self.count += 1
        message_id = message_id or f"m{self.count}@client.test"
        self.deliver(resident_mail(sender, (station or self.bhl).address, subject, body,
                                   message_id, extra=extra), station=station)
        return message_id

    def poll(self, clock: Clock | None = None, clear: bool = True):
        if clear:
            self.smtp.clear()
        return asyncio.run(poll_once(self.config, clock) if clock else poll_once(self.config))

    def received(self, address: str) -> list:
        return [parse(m.data) for m in self.smtp.messages if address in m.rcpt_tos]

    def subjects(self, address: str) -> list[str]:
        return [str(m["Subject"]) for m in self.received(address)]

    def store(self) -> Store:
        return Store(self.config.data_dir)

    def complaint(self) -> dict:
        [complaint] = self.store().complaints()
        return complaint

    def kinds(self) -> list[str]:
        """The kind sorting gave each stored mail, in the order they came."""
        return [r["kind"] for r in self.store().query("SELECT kind FROM messages ORDER BY id")]

    def report(self, subject: str = "Chain snatched near Behala Chowrasta",
               body: str = "Two men on a bike snatched my chain at 8 pm.") -> tuple:
        """A resident files a complaint; returns (acknowledgement, officers' notification)."""
        self.deliver(resident_mail(RESIDENT, self.bhl.address, subject, body, "r0@yahoo"))
        self.poll()
        [ack] = self.received(RESIDENT)
        [notification] = self.received(OFFICER)
        return ack, notification

    def file(self, sender: str = RESIDENT) -> tuple[str, EmailMessage]:
        """`sender` files the usual complaint; returns its code and the acknowledgement."""
        self.send(sender, "Chain snatched near Behala Chowrasta",
                  "Two men on a bike snatched my chain at 8 pm.")
        self.poll()
        [ack] = self.received(sender)
        return self.store().complaints()[0]["code"], ack

    def reply(self, sender: str, to_mail, body: str, keep_headers: bool = True,
              extra: str = "", station: StationAccount | None = None) -> None:
        """A reply as a mail client writes it: commands on top, the quote below."""
        self.count += 1
        quoted = "\n".join(f"> {line}" for line in to_mail.get_content().splitlines()[:5])
        text = f"{body}\n\nOn Mon, 23 Nov 2026 at 10:05, Behala PS wrote:\n{quoted}\n"
        threading = (f"In-Reply-To: {to_mail['Message-ID']}\n"
                     f"References: {to_mail['Message-ID']}\n") if keep_headers else ""
        self.deliver(resident_mail(sender, (station or self.bhl).address,
                                   f"Re: {to_mail['Subject']}", text,
                                   f"reply{self.count}@client.test", extra=threading + extra),
                     station=station)
