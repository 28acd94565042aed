"""Issue 11, item 4, and its loops and floods: mail written by machines is stored, never
answered and never a complaint, however it shows it (only its body, a null sender, only its
subject, in English, Hindi or Bengali); an auto-responder answering everything and one
sender filing 500 mails stay under the reply budgets, and the DCP's digest names the sender.
Real .eml files under tests/mail/machine/, through Dovecot, the pipeline and SMTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from deskenv import StationAccount, config_for, parse, resident_mail
from servers import SmtpRecorder

from maildesk.daemon import poll_once
from maildesk.desk import Desk
from maildesk.reports.digest import build_digest, period, render_digest
from maildesk.store.db import Store

MACHINE = Path(__file__).resolve().parent / "mail" / "machine"
OFFICER = "si.mukherjee@maildesk.test"
MACHINE_MAIL = sorted(p.name for p in MACHINE.glob("*.eml") if not p.name.startswith("complaint"))
COMPLAINTS = sorted(p.name for p in MACHINE.glob("complaint*.eml"))


class Station:
    def __init__(self, tmp_path, dovecot, user, smtp: SmtpRecorder, **settings: object):
        self.dovecot, self.smtp, self.user = dovecot, smtp, user
        self.account = StationAccount("BHL", user.name, user.password, (OFFICER,))
        self.config = config_for(tmp_path, (dovecot.host, dovecot.port),
                                 (smtp.host, smtp.port), [self.account], **settings)

    def deliver(self, *raws: bytes) -> None:
        with self.dovecot.client(self.user.name) as imap:
            for raw in raws:
                imap.append("INBOX", raw)

    def poll(self):
        self.smtp.clear()
        return asyncio.run(poll_once(self.config))

    def store(self) -> Store:
        return Store(self.config.data_dir)

    def kinds(self) -> list[str]:
        return [r["kind"] for r in self.store().query("SELECT kind FROM messages ORDER BY id")]


@pytest.fixture
def station(tmp_path, dovecot, mailbox_user, smtp) -> Station:
    return Station(tmp_path, dovecot, mailbox_user, smtp)


def test_there_are_machine_mails_of_every_kind():
    assert len(MACHINE_MAIL) >= 15 and len(COMPLAINTS) >= 3


@pytest.mark.parametrize("name", MACHINE_MAIL)
def test_machine_mail_is_stored_never_answered_never_a_complaint(station, name):
    raw = (MACHINE / name).read_bytes()
    station.deliver(raw)
    station.poll()
    assert station.kinds() == ["autoreply"], name
    store = station.store()
    assert store.complaints() == []
    assert station.smtp.messages == []
    [row] = store.query("SELECT sha256 FROM messages")
    assert store.read_raw(row["sha256"]) == raw  # stored whole


@pytest.mark.parametrize("name", COMPLAINTS)
def test_complaints_that_look_a_little_like_machine_mail_stay_complaints(station, name):
    station.deliver((MACHINE / name).read_bytes())
    station.poll()
    assert station.kinds() == ["new"], name
    [complaint] = station.store().complaints()
    if "urgent" in name:
        assert complaint["urgency"] == "urgent"
    assert len(station.smtp.messages) == 2  # acknowledged, officers told


def test_an_officers_out_of_office_by_its_words_is_not_a_note(station):
    station.deliver(resident_mail("amit@yahoo.co.in", station.account.address, "Bike stolen",
                                  "My bike was stolen from the market.", "r1@yahoo"))
    station.poll()
    [notification] = [parse(m.data) for m in station.smtp.messages if OFFICER in m.rcpt_tos]
    station.deliver(resident_mail(
        OFFICER, station.account.address, f"Re: {notification['Subject']}",
        "I am out of the office until 10 December. Please contact SI Ghosh meanwhile.",
        "ooo1@maildesk.test", extra=f"In-Reply-To: {notification['Message-ID']}"))
    station.poll()
    assert station.smtp.messages == []
    store = station.store()
    [complaint] = store.complaints()
    assert [e["action"] for e in store.events(complaint["id"])] == ["received", "acknowledged"]
    assert station.kinds()[-1] == "autoreply"


def _responder_answers(station: Station, address: str, threaded: bool,
                       rounds: int) -> tuple[int, int]:
    """An auto-responder on loopback that answers every mail it gets, without any RFC 3834
    header and with words no rule knows. Returns how many answers the desk sent it, and
    after how many rounds the desk stopped answering."""
    total = 0
    pending = [parse(m.data) for m in station.smtp.messages if address in m.rcpt_tos]
    for i in range(rounds):
        if not pending:
            return total, i
        replies = []
        for n, mail in enumerate(pending):
            subject = f"Re: {mail['Subject']}" if threaded else f"Thanks for writing {i}.{n}"
            extra = f"In-Reply-To: {mail['Message-ID']}" if threaded else ""
            replies.append(resident_mail(address, station.account.address, subject,
                                         "Thanks, your mail has reached us.",
                                         f"loop{i}.{n}@responder.test", extra=extra))
        station.deliver(*replies)
        station.poll()
        pending = [parse(m.data) for m in station.smtp.messages if address in m.rcpt_tos]
        total += len(pending)
    return total, rounds


@pytest.mark.parametrize("threaded", [True, False])
def test_an_auto_responder_answering_everything_stays_under_the_cap(station, threaded):
    address = "autoresponder@responder.test"
    station.deliver(resident_mail(address, station.account.address, "Bike stolen",
                                  "My bike was stolen.", "first@responder.test"))
    station.poll()
    answers, rounds = _responder_answers(station, address, threaded, rounds=60)
    answers += 1  # the first acknowledgement
    assert rounds < 60, "the desk and the responder were still answering each other"
    assert answers <= station.config.answers_per_address_hourly
    assert answers <= station.config.sender_hourly_limit
    if threaded:  # replies to the acknowledgement are follow-ups: none is answered
        assert answers == 1
    assert len(station.kinds()) == rounds + 1  # every responder mail stored


def test_one_sender_filing_500_mails_in_an_hour(station):
    flooder = "flooder@example.in"
    station.deliver(*(resident_mail(flooder, station.account.address, f"Complaint number {i}",
                                    f"Noise from the flat above, mail {i}.", f"f{i}@example.in")
                      for i in range(500)))
    while station.poll().passes[0].fetched:
        pass
    store = station.store()
    assert len(station.kinds()) == 500  # every mail stored
    answers = store.query("SELECT count(*) AS n FROM outbox WHERE rcpt_to LIKE ?",
                          (f'%{flooder}%',))[0]["n"]
    assert answers <= station.config.sender_hourly_limit
    assert answers <= station.config.answers_per_address_hourly
    assert len(store.complaints()) == station.config.sender_hourly_limit

    desk = Desk.open(station.config)
    try:
        now = desk.clock.now()
        day = now.astimezone(desk.config.timezone).date()
        if period(desk, day)[1] <= now:
            day += timedelta(days=1)
        _, text, html = render_digest(desk, build_digest(desk, "KOL-NE", day))
    finally:
        desk.close()
    assert flooder in text and flooder in html
    line = next(line for line in text.splitlines() if flooder in line)
    assert "500 mails" in line and "480 over the sender limit" in line
