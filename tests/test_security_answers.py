"""Issue 9, items 4-8 and the size limit: answers go only where they may, within budgets,
never in a loop; bounces are believed only for mail the desk sent; internationalised
addresses are handled. Every attack goes through Dovecot, the daemon's pipeline and SMTP."""

from __future__ import annotations

import asyncio
import base64

import pytest
from deskenv import StationAccount, config_for, parse, resident_mail
from servers import SmtpRecorder

from maildesk.daemon import poll_once
from maildesk.store.db import Store

OFFICER = "si.mukherjee@maildesk.test"
RESIDENT = "amit.sharma@yahoo.co.in"
ATTACKER = "abuser@evil.example"


class Desk:
    """One station (BHL) on the test servers, and what each address received."""

    def __init__(self, tmp_path, dovecot, user, smtp: SmtpRecorder, **settings: object):
        self.dovecot, self.smtp = dovecot, smtp
        self.bhl = StationAccount("BHL", user.name, user.password, (OFFICER,))
        self.config = config_for(tmp_path, (dovecot.host, dovecot.port),
                                 (smtp.host, smtp.port), [self.bhl], **settings)
        self.count = 0

    def send(self, sender: str, subject: str, body: str = "Please help.", extra: str = "",
             message_id: str | None = None) -> str:
        self.count += 1
        message_id = message_id or f"m{self.count}@client.test"
        self.dovecot.append(self.bhl.user, resident_mail(sender, self.bhl.address, subject,
                                                         body, message_id, extra=extra))
        return message_id

    def poll(self):
        self.smtp.clear()
        return asyncio.run(poll_once(self.config))

    def received(self, address: str) -> list:
        return [parse(m.data) for m in self.smtp.messages if address in m.rcpt_tos]

    def store(self) -> Store:
        return Store(self.config.data_dir)

    def file(self, sender: str = RESIDENT) -> tuple[str, object]:
        """A resident files a complaint; returns its code and the acknowledgement."""
        self.send(sender, "Chain snatched near Behala Chowrasta",
                  "Two men on a bike snatched my chain at 8 pm.")
        self.poll()
        [ack] = self.received(sender)
        return self.store().complaints()[0]["code"], ack


@pytest.fixture
def desk(tmp_path, dovecot, mailbox_user, smtp) -> Desk:
    return Desk(tmp_path, dovecot, mailbox_user, smtp)


def _kinds(store: Store) -> list[str]:
    return [r["kind"] for r in store.query("SELECT kind FROM messages ORDER BY id")]


# -- 4. status and acknowledgements only to the filer ---------------------------------------


def test_status_with_a_forged_from_and_reply_to_goes_only_to_the_filer(desk):
    code, _ = desk.file()
    desk.send(RESIDENT, f"STATUS {code}", "", extra=f"Reply-To: {ATTACKER}")
    desk.poll()
    assert desk.received(ATTACKER) == []
    [status] = desk.received(RESIDENT)
    assert code in status["Subject"] and "Status" in status["Subject"]


def test_acknowledgement_goes_to_from_not_reply_to(desk):
    desk.send(RESIDENT, "Bike stolen", "My bike was stolen.", extra=f"Reply-To: {ATTACKER}")
    desk.poll()
    assert desk.received(ATTACKER) == []
    assert len(desk.received(RESIDENT)) == 1
    assert desk.store().complaints()[0]["resident_addr"] == RESIDENT


def test_a_stranger_cannot_tell_an_existing_code_from_an_unknown_one(desk):
    code, _ = desk.file()
    unknown = code[:-4] + "9999"
    desk.send(ATTACKER, f"STATUS {code}", "")
    desk.send("other@evil.example", f"STATUS {unknown}", "")
    desk.poll()
    [real] = desk.received(ATTACKER)
    [fake] = desk.received("other@evil.example")
    assert real["Subject"] == fake["Subject"]
    assert real.get_content() == fake.get_content()
    assert code not in real.as_string() and "X-Maildesk-Complaint" not in real


def test_a_stranger_naming_an_existing_code_gets_what_an_unknown_code_gets(desk):
    code, _ = desk.file()
    unknown = code[:-4] + "9999"
    desk.send(ATTACKER, f"Re: [{code}] about this complaint", "Is this one yours?")
    desk.send("other@evil.example", f"Re: [{unknown}] about this complaint", "Is it?")
    desk.poll()
    [real] = desk.received(ATTACKER)
    [fake] = desk.received("other@evil.example")
    store = desk.store()
    # Both are taken as complaints of their own and acknowledged with their own new code.
    codes = {c["code"] for c in store.complaints()}
    assert len(codes) == 3
    for ack in (real, fake):
        [own] = [c for c in codes if c in ack["Subject"].replace(f"[{code}]", "")
                 .replace(f"[{unknown}]", "")]
        assert own not in (code, unknown)
    original = store.complaint_by_code(code)
    actions = [e["action"] for e in store.events(original["id"])]
    assert "named_by_other" in actions and "third_party_message" not in actions


# -- 5. one reply budget per recipient, per station, in all --------------------------------


def test_status_flood_from_the_filer_is_capped(tmp_path, dovecot, mailbox_user, smtp):
    desk = Desk(tmp_path, dovecot, mailbox_user, smtp, sender_hourly_limit=1000,
                answers_per_address_hourly=5)
    code, _ = desk.file()
    for _ in range(30):
        desk.send(RESIDENT, f"STATUS {code}", "")
    desk.poll()
    assert len(desk.received(RESIDENT)) == 4  # the budget of 5, less the acknowledgement
    store = desk.store()
    assert _kinds(store).count("status") == 30  # every mail is stored
    held = store.query("SELECT count(*) AS n FROM answers WHERE held = 1")[0]["n"]
    assert held == 26


def test_forged_officer_mails_send_the_officer_a_capped_number_of_help_mails(
        tmp_path, dovecot, mailbox_user, smtp):
    desk = Desk(tmp_path, dovecot, mailbox_user, smtp, answers_per_address_hourly=5)
    for i in range(30):
        desk.send(OFFICER, f"hello {i}", "#close done")
    desk.poll()
    assert len(desk.received(OFFICER)) == 5
    assert _kinds(desk.store()).count("officer") == 30


def test_rotating_senders_with_one_reply_to_victim_reach_nobody_but_themselves(desk):
    for i in range(30):
        desk.send(f"sender{i}@evil.example", f"complaint {i}", "noise",
                  extra=f"Reply-To: {RESIDENT}")
    desk.poll()
    assert desk.received(RESIDENT) == []


def test_station_and_global_caps(tmp_path, dovecot, mailbox_user, smtp):
    desk = Desk(tmp_path, dovecot, mailbox_user, smtp, answers_per_station_hourly=4)
    for i in range(10):
        desk.send(f"sender{i}@example.in", f"complaint {i}", "My bicycle was stolen.")
    desk.poll()
    acks = [m for m in desk.smtp.messages if m.rcpt_tos != [OFFICER]]
    assert len(acks) == 4
    assert len(desk.store().complaints()) == 10  # every complaint stands
    assert len(desk.received(OFFICER)) == 10  # and the officers hear of each

    other = Desk(tmp_path / "global", dovecot, dovecot.add_user(f"{mailbox_user.name}g", "pw"),
                 smtp, answers_hourly=3)
    for i in range(6):
        other.send(f"sender{i}@example.in", f"complaint {i}", "My bicycle was stolen.")
    other.poll()
    assert len([m for m in other.smtp.messages if m.rcpt_tos != [OFFICER]]) == 3


# -- 6. loops with auto-responders -----------------------------------------------------------


def test_an_officers_out_of_office_without_headers_is_not_a_note_every_round(desk):
    _, _ = desk.file()
    [notification] = desk.received(OFFICER)
    desk.send(OFFICER, f"Re: {notification['Subject']}", "#progress constable on the way",
              extra=f"In-Reply-To: {notification['Message-ID']}")
    desk.poll()
    [confirm] = desk.received(OFFICER)
    parent = confirm
    for round_ in range(8):
        # The responder answers whatever arrives, with the same words and no headers.
        desk.send(OFFICER, f"Re: {parent['Subject']}", "Thank you for your mail. I will "
                  "read it when I can.", extra=f"In-Reply-To: {parent['Message-ID']}")
        desk.poll()
        answers = desk.received(OFFICER)
        assert answers == [], f"round {round_}: the desk answered the responder"
    store = desk.store()
    complaint = store.complaints()[0]
    notes = [e for e in store.events(complaint["id"]) if e["action"] == "note"]
    assert len(notes) <= 8 and complaint["status"] == "in_process"


def test_a_resident_responder_echoing_the_status_subject_gets_no_answer(desk):
    code, _ = desk.file()
    desk.send(RESIDENT, f"STATUS {code}", "")
    desk.poll()
    [status] = desk.received(RESIDENT)
    parent = status
    for _ in range(3):  # threaded under the status answer
        desk.send(RESIDENT, f"Re: {parent['Subject']}", "I am away, back soon.",
                  extra=f"In-Reply-To: {parent['Message-ID']}")
        desk.poll()
        assert desk.received(RESIDENT) == []
    # The subject alone, without threading headers, is not read as a request either.
    desk.send(RESIDENT, f"Re: {status['Subject']}", "Received.")
    desk.poll()
    assert desk.received(RESIDENT) == []


# -- 7. bounces -------------------------------------------------------------------------------


def _bounce(returned_message_id: str, failed: str) -> str:
    return (f"This is the mail system. Your message could not be delivered to {failed}.\n\n"
            f"--- Original message ---\nMessage-ID: <{returned_message_id}>\n"
            f"Subject: Re: Chain snatched\n")


def test_a_forged_bounce_does_not_silence_the_resident(desk):
    code, _ = desk.file()
    desk.send(ATTACKER, "Undelivered Mail Returned to Sender", _bounce("x@evil.example",
                                                                       RESIDENT),
              extra=f"X-Failed-Recipients: {RESIDENT}")
    desk.poll()
    store = desk.store()
    assert not store.is_undeliverable(RESIDENT)
    desk.send(RESIDENT, f"STATUS {code}", "")
    desk.poll()
    assert len(desk.received(RESIDENT)) == 1


def test_a_bounce_of_our_own_mail_is_believed_for_its_recipient_only(desk):
    _, ack = desk.file()
    ack_id = ack["Message-ID"].strip("<>")
    other = "kavita.m@yahoo.co.in"
    desk.send("mailer-daemon@mx.yahoo.test", "Delivery failure", _bounce(ack_id, RESIDENT),
              extra=f"X-Failed-Recipients: {RESIDENT}, {other}")
    desk.poll()
    store = desk.store()
    assert store.is_undeliverable(RESIDENT)
    assert not store.is_undeliverable(other)  # the returned mail never went to her


# -- 8. internationalised addresses ----------------------------------------------------------

IDN = "राम@example.in"


def test_an_internationalised_sender_is_answered_over_smtputf8(tmp_path, dovecot,
                                                               mailbox_user):
    with SmtpRecorder(smtputf8=True) as smtp:
        desk = Desk(tmp_path, dovecot, mailbox_user, smtp)
        desk.send(IDN, "घर में चोरी", "कल रात मेरे घर में चोरी हुई।")
        desk.poll()
        [complaint] = desk.store().complaints()
        assert complaint["resident_addr"] == IDN
        [ack] = [m for m in smtp.messages if m.rcpt_tos == [IDN]]
        assert IDN.encode() in ack.data
        assert len(desk.received(OFFICER)) == 1


def test_without_smtputf8_the_complaint_stands_and_the_officers_are_told(desk):
    desk.send(IDN, "घर में चोरी", "कल रात मेरे घर में चोरी हुई।")
    desk.poll()
    store = desk.store()
    [complaint] = store.complaints()
    assert "shunted" not in _kinds(store)
    officer_mails = desk.received(OFFICER)
    assert len(officer_mails) == 1  # the notification
    desk.poll()  # the failed acknowledgement has queued the notice
    [notice] = desk.received(OFFICER)
    assert "could not be told" in notice["Subject"] and IDN in notice.get_content()
    actions = [e["action"] for e in store.events(complaint["id"])]
    assert "mail_failed" in actions and "reply_impossible" in actions


def test_an_internationalised_reply_to_changes_nothing(desk):
    desk.send(RESIDENT, "Bike stolen", "My bike was stolen.", extra=f"Reply-To: {IDN}")
    desk.poll()
    assert len(desk.received(RESIDENT)) == 1
    assert "shunted" not in _kinds(desk.store())


@pytest.mark.parametrize("header", [
    "=?utf-8?b?" + base64.b64encode(IDN.encode()).decode() + "?=",
    "x@=?utf-8?q?evil?=.example",
    "=?utf-8?q?a=0D=0ABcc=3A_x=40evil=2Eexample?= <=?utf-8?q?x?=@ex.com>",
    '"=?utf-8?b?' + base64.b64encode("राम".encode()).decode() + '?=" <bad..dots@example.in>',
])
def test_a_crafted_encoded_word_from_never_shunts_the_complaint(desk, header):
    desk.send(header, "Fire in the market", "There is a fire in the market, hurry.")
    desk.poll()
    store = desk.store()
    assert _kinds(store) == ["new"]
    [complaint] = store.complaints()
    assert complaint["urgency"] == "urgent"
    assert desk.received(OFFICER)  # the officers have it


# -- 9. the size limit holds for every kind of mail ------------------------------------------


def _with_attachment(sender: str, subject: str, body: str, size: int, extra: str = "") -> bytes:
    data = base64.encodebytes(b"\xff" * size).decode().replace("\n", "\r\n")
    head = (f"From: {sender}\r\nTo: bhl.ps@maildesk.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <big{size}{len(subject)}@client.test>\r\n{extra}MIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n')
    return (head + f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            "--b\r\nContent-Type: image/jpeg; name=photo.jpg\r\nContent-Transfer-Encoding: "
            f"base64\r\nContent-Disposition: attachment; filename=photo.jpg\r\n\r\n{data}"
            "--b--\r\n").encode()


def test_oversize_follow_up_and_status_are_not_forwarded_whole(tmp_path, dovecot,
                                                               mailbox_user, smtp):
    desk = Desk(tmp_path, dovecot, mailbox_user, smtp, max_mail_mb=1)
    code, _ = desk.file()
    desk.dovecot.append(desk.bhl.user, _with_attachment(
        RESIDENT, f"Re: [{code}] photo", "Here is the photo of the men.", 1_500_000))
    desk.dovecot.append(desk.bhl.user, _with_attachment(
        RESIDENT, f"STATUS {code}", "", 1_200_000))
    desk.poll()
    [followup_notice] = desk.received(OFFICER)
    assert "photo of the men" in followup_notice.get_content()
    assert not list(followup_notice.iter_attachments())
    told = desk.received(RESIDENT)
    subjects = sorted(m["Subject"] for m in told)
    assert len([s for s in subjects if "too large" in s]) == 2
    assert len([s for s in subjects if "Status" in s]) == 1
    assert all(len(m.as_bytes()) < 100_000 for m in told)
