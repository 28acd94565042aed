"""Issue 11, item 4, and its loops and floods: mail written by machines is stored, never
answered and never a complaint, however it shows it (only its body, a null sender, only its
subject, in English, Hindi or Bengali); an auto-responder answering everything and one
sender filing 500 mails stay under the reply budgets, and the DCP's digest names the sender.
Real .eml files under tests/mail/machine/, through Dovecot, the pipeline and SMTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conversation import OFFICER, Conversation
from deskenv import resident_mail

from maildesk.desk import Desk
from maildesk.reports.digest import build_digest, period, render_digest

MACHINE = Path(__file__).resolve().parent / "mail" / "machine"
MACHINE_MAIL = sorted(p.name for p in MACHINE.glob("*.eml") if not p.name.startswith("complaint"))
COMPLAINTS = sorted(p.name for p in MACHINE.glob("complaint*.eml"))


def test_there_are_machine_mails_of_every_kind():
    assert len(MACHINE_MAIL) >= 15 and len(COMPLAINTS) >= 3


@pytest.mark.parametrize("name", MACHINE_MAIL)
def test_machine_mail_is_stored_never_answered_never_a_complaint(conversation, name):
    raw = (MACHINE / name).read_bytes()
    conversation.deliver(raw)
    conversation.poll()
    assert conversation.kinds() == ["autoreply"], name
    store = conversation.store()
    assert store.complaints() == []
    assert conversation.smtp.messages == []
    [row] = store.query("SELECT sha256 FROM messages")
    assert store.read_raw(row["sha256"]) == raw  # stored whole


@pytest.mark.parametrize("name", COMPLAINTS)
def test_complaints_that_look_a_little_like_machine_mail_stay_complaints(conversation, name):
    conversation.deliver((MACHINE / name).read_bytes())
    conversation.poll()
    assert conversation.kinds() == ["new"], name
    [complaint] = conversation.store().complaints()
    if "urgent" in name:
        assert complaint["urgency"] == "urgent"
    assert len(conversation.smtp.messages) == 2  # acknowledged, officers told


def test_an_officers_out_of_office_by_its_words_is_not_a_note(conversation):
    conversation.deliver(resident_mail("amit@yahoo.co.in", conversation.bhl.address, "Bike stolen",
                                  "My bike was stolen from the market.", "r1@yahoo"))
    conversation.poll()
    [notification] = conversation.received(OFFICER)
    conversation.deliver(resident_mail(
        OFFICER, conversation.bhl.address, f"Re: {notification['Subject']}",
        "I am out of the office until 10 December. Please contact SI Ghosh meanwhile.",
        "ooo1@maildesk.test", extra=f"In-Reply-To: {notification['Message-ID']}"))
    conversation.poll()
    assert conversation.smtp.messages == []
    store = conversation.store()
    [complaint] = store.complaints()
    assert [e["action"] for e in store.events(complaint["id"])] == ["received", "acknowledged"]
    assert conversation.kinds()[-1] == "autoreply"


def _responder_answers(conversation: Conversation, address: str, threaded: bool,
                       rounds: int) -> tuple[int, int]:
    """An auto-responder on loopback that answers every mail it gets, without any RFC 3834
    header and with words no rule knows. Returns how many answers the desk sent it, and
    after how many rounds the desk stopped answering."""
    total = 0
    pending = conversation.received(address)
    for i in range(rounds):
        if not pending:
            return total, i
        replies = []
        for n, mail in enumerate(pending):
            subject = f"Re: {mail['Subject']}" if threaded else f"Thanks for writing {i}.{n}"
            extra = f"In-Reply-To: {mail['Message-ID']}" if threaded else ""
            replies.append(resident_mail(address, conversation.bhl.address, subject,
                                         "Thanks, your mail has reached us.",
                                         f"loop{i}.{n}@responder.test", extra=extra))
        conversation.deliver(*replies)
        conversation.poll()
        pending = conversation.received(address)
        total += len(pending)
    return total, rounds


@pytest.mark.parametrize("threaded", [True, False])
def test_an_auto_responder_answering_everything_stays_under_the_cap(conversation, threaded):
    address = "autoresponder@responder.test"
    conversation.deliver(resident_mail(address, conversation.bhl.address, "Bike stolen",
                                  "My bike was stolen.", "first@responder.test"))
    conversation.poll()
    answers, rounds = _responder_answers(conversation, address, threaded, rounds=60)
    answers += 1  # the first acknowledgement
    assert rounds < 60, "the desk and the responder were still answering each other"
    assert answers <= conversation.config.answers_per_address_hourly
    assert answers <= conversation.config.sender_hourly_limit
    if threaded:  # replies to the acknowledgement are follow-ups: none is answered
        assert answers == 1
    assert len(conversation.kinds()) == rounds + 1  # every responder mail stored


def test_one_sender_filing_500_mails_in_an_hour(conversation):
    flooder = "flooder@example.in"
    conversation.deliver(*(resident_mail(flooder, conversation.bhl.address, f"Complaint number {i}",
                                    f"Noise from the flat above, mail {i}.", f"f{i}@example.in")
                      for i in range(500)))
    for _ in range(100):  # each pass takes a batch; bounded, so a stuck inbox fails the test
        if not any(p.fetched for p in conversation.poll().passes):
            break
    else:
        raise AssertionError("the inbox was still not empty after 100 passes")
    store = conversation.store()
    assert len(conversation.kinds()) == 500  # every mail stored
    answers = store.query("SELECT count(*) AS n FROM outbox WHERE rcpt_to LIKE ?",
                          (f'%{flooder}%',))[0]["n"]
    assert answers <= conversation.config.sender_hourly_limit
    assert answers <= conversation.config.answers_per_address_hourly
    assert len(store.complaints()) == conversation.config.sender_hourly_limit

    desk = Desk.open(conversation.config)
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
