"""Issue 9, items 4-8 and the size limit: answers go only where they may, within budgets,
never in a loop; bounces are believed only for mail the desk sent; internationalised
addresses are handled. Every attack goes through Dovecot, the daemon's pipeline and SMTP."""

from __future__ import annotations

import base64

import pytest
from conversation import OFFICER, RESIDENT, Conversation
from servers import SmtpRecorder

ATTACKER = "abuser@evil.example"


# -- 4. status and acknowledgements only to the filer ---------------------------------------


def test_status_with_a_forged_from_and_reply_to_goes_only_to_the_filer(conversation):
    code, _ = conversation.file()
    conversation.send(RESIDENT, f"STATUS {code}", "", extra=f"Reply-To: {ATTACKER}")
    conversation.poll()
    assert conversation.received(ATTACKER) == []
    [status] = conversation.received(RESIDENT)
    assert code in status["Subject"] and "Status" in status["Subject"]


def test_acknowledgement_goes_to_from_not_reply_to(conversation):
    conversation.send(RESIDENT, "Bike stolen", "My bike was stolen.", extra=f"Reply-To: {ATTACKER}")
    conversation.poll()
    assert conversation.received(ATTACKER) == []
    assert len(conversation.received(RESIDENT)) == 1
    assert conversation.store().complaints()[0]["resident_addr"] == RESIDENT


def test_a_stranger_cannot_tell_an_existing_code_from_an_unknown_one(conversation):
    code, _ = conversation.file()
    unknown = code[:-4] + "9999"
    conversation.send(ATTACKER, f"STATUS {code}", "")
    conversation.send("other@evil.example", f"STATUS {unknown}", "")
    conversation.poll()
    [real] = conversation.received(ATTACKER)
    [fake] = conversation.received("other@evil.example")
    assert real["Subject"] == fake["Subject"]
    assert real.get_content() == fake.get_content()
    assert code not in real.as_string() and "X-Maildesk-Complaint" not in real


def test_a_stranger_naming_an_existing_code_gets_what_an_unknown_code_gets(conversation):
    code, _ = conversation.file()
    unknown = code[:-4] + "9999"
    conversation.send(ATTACKER, f"Re: [{code}] about this complaint", "Is this one yours?")
    conversation.send("other@evil.example", f"Re: [{unknown}] about this complaint", "Is it?")
    conversation.poll()
    [real] = conversation.received(ATTACKER)
    [fake] = conversation.received("other@evil.example")
    store = conversation.store()
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


def test_status_flood_from_the_filer_is_capped(conversation):
    conversation.configure(sender_hourly_limit=1000, answers_per_address_hourly=5)
    code, _ = conversation.file()
    for _ in range(30):
        conversation.send(RESIDENT, f"STATUS {code}", "")
    conversation.poll()
    assert len(conversation.received(RESIDENT)) == 4  # the budget of 5, less the acknowledgement
    store = conversation.store()
    assert conversation.kinds().count("status") == 30  # every mail is stored
    held = store.query("SELECT count(*) AS n FROM answers WHERE held = 1")[0]["n"]
    assert held == 26


def test_forged_officer_mails_send_the_officer_a_capped_number_of_help_mails(conversation):
    conversation.configure(answers_per_address_hourly=5)
    for i in range(30):
        conversation.send(OFFICER, f"hello {i}", "#close done")
    conversation.poll()
    assert len(conversation.received(OFFICER)) == 5
    assert conversation.kinds().count("officer") == 30


def test_rotating_senders_with_one_reply_to_victim_reach_nobody_but_themselves(conversation):
    for i in range(30):
        conversation.send(f"sender{i}@evil.example", f"complaint {i}", "noise",
                  extra=f"Reply-To: {RESIDENT}")
    conversation.poll()
    assert conversation.received(RESIDENT) == []


def test_station_and_global_caps(conversation, tmp_path, dovecot, mailbox_user, smtp):
    conversation.configure(answers_per_station_hourly=4)
    for i in range(10):
        conversation.send(f"sender{i}@example.in", f"complaint {i}", "My bicycle was stolen.")
    conversation.poll()
    acks = [m for m in conversation.smtp.messages if m.rcpt_tos != [OFFICER]]
    assert len(acks) == 4
    assert len(conversation.store().complaints()) == 10  # every complaint stands
    assert len(conversation.received(OFFICER)) == 10  # and the officers hear of each

    other = Conversation(tmp_path / "global", dovecot,
                         dovecot.add_user(f"{mailbox_user.name}g", "pw"), smtp, answers_hourly=3)
    for i in range(6):
        other.send(f"sender{i}@example.in", f"complaint {i}", "My bicycle was stolen.")
    other.poll()
    assert len([m for m in other.smtp.messages if m.rcpt_tos != [OFFICER]]) == 3


# -- 6. loops with auto-responders -----------------------------------------------------------


def test_an_officers_out_of_office_without_headers_is_not_a_note_every_round(conversation):
    _, _ = conversation.file()
    [notification] = conversation.received(OFFICER)
    conversation.send(OFFICER, f"Re: {notification['Subject']}", "#progress constable on the way",
              extra=f"In-Reply-To: {notification['Message-ID']}")
    conversation.poll()
    [confirm] = conversation.received(OFFICER)
    parent = confirm
    for round_ in range(8):
        # The responder answers whatever arrives, with the same words and no headers.
        conversation.send(OFFICER, f"Re: {parent['Subject']}", "Thank you for your mail. I will "
                  "read it when I can.", extra=f"In-Reply-To: {parent['Message-ID']}")
        conversation.poll()
        answers = conversation.received(OFFICER)
        assert answers == [], f"round {round_}: the desk answered the responder"
    store = conversation.store()
    complaint = store.complaints()[0]
    notes = [e for e in store.events(complaint["id"]) if e["action"] == "note"]
    assert len(notes) <= 8 and complaint["status"] == "in_process"


def test_a_resident_responder_echoing_the_status_subject_gets_no_answer(conversation):
    code, _ = conversation.file()
    conversation.send(RESIDENT, f"STATUS {code}", "")
    conversation.poll()
    [status] = conversation.received(RESIDENT)
    parent = status
    for _ in range(3):  # threaded under the status answer
        conversation.send(RESIDENT, f"Re: {parent['Subject']}", "I am away, back soon.",
                  extra=f"In-Reply-To: {parent['Message-ID']}")
        conversation.poll()
        assert conversation.received(RESIDENT) == []
    # The subject alone, without threading headers, is not read as a request either.
    conversation.send(RESIDENT, f"Re: {status['Subject']}", "Received.")
    conversation.poll()
    assert conversation.received(RESIDENT) == []


# -- 7. bounces -------------------------------------------------------------------------------


def _bounce(returned_message_id: str, failed: str) -> str:
    return (f"This is the mail system. Your message could not be delivered to {failed}.\n\n"
            f"--- Original message ---\nMessage-ID: <{returned_message_id}>\n"
            f"Subject: Re: Chain snatched\n")


def test_a_forged_bounce_does_not_silence_the_resident(conversation):
    code, _ = conversation.file()
    conversation.send(ATTACKER, "Undelivered Mail Returned to Sender", _bounce("x@evil.example",
                                                                       RESIDENT),
              extra=f"X-Failed-Recipients: {RESIDENT}")
    conversation.poll()
    store = conversation.store()
    assert not store.is_undeliverable(RESIDENT)
    conversation.send(RESIDENT, f"STATUS {code}", "")
    conversation.poll()
    assert len(conversation.received(RESIDENT)) == 1


def test_a_bounce_of_our_own_mail_is_believed_for_its_recipient_only(conversation):
    _, ack = conversation.file()
    ack_id = ack["Message-ID"].strip("<>")
    other = "kavita.m@yahoo.co.in"
    conversation.send("mailer-daemon@mx.yahoo.test", "Delivery failure", _bounce(ack_id, RESIDENT),
              extra=f"X-Failed-Recipients: {RESIDENT}, {other}")
    conversation.poll()
    store = conversation.store()
    assert store.is_undeliverable(RESIDENT)
    assert not store.is_undeliverable(other)  # the returned mail never went to her


# -- 8. internationalised addresses ----------------------------------------------------------

IDN = "राम@example.in"


def test_an_internationalised_sender_is_answered_over_smtputf8(tmp_path, dovecot,
                                                               mailbox_user):
    with SmtpRecorder(smtputf8=True) as smtp:
        conversation = Conversation(tmp_path, dovecot, mailbox_user, smtp)
        conversation.send(IDN, "घर में चोरी", "कल रात मेरे घर में चोरी हुई।")
        conversation.poll()
        [complaint] = conversation.store().complaints()
        assert complaint["resident_addr"] == IDN
        [ack] = [m for m in smtp.messages if m.rcpt_tos == [IDN]]
        assert IDN.encode() in ack.data
        assert len(conversation.received(OFFICER)) == 1


def test_without_smtputf8_the_complaint_stands_and_the_officers_are_told(conversation):
    conversation.send(IDN, "घर में चोरी", "कल रात मेरे घर में चोरी हुई।")
    conversation.poll()
    store = conversation.store()
    [complaint] = store.complaints()
    assert "shunted" not in conversation.kinds()
    def notices() -> list:
        return [m for m in conversation.received(OFFICER) if "could not be told" in m["Subject"]]

    assert complaint["code"] in conversation.received(OFFICER)[0]["Subject"]  # notified
    # The failed acknowledgement queues the notice; the pass's last drain may already have
    # sent it, or the next pass does.
    if not notices():
        conversation.poll()
    [notice] = notices()
    assert "could not be told" in notice["Subject"] and IDN in notice.get_content()
    actions = [e["action"] for e in store.events(complaint["id"])]
    assert "mail_failed" in actions and "reply_impossible" in actions


def test_an_internationalised_reply_to_changes_nothing(conversation):
    conversation.send(RESIDENT, "Bike stolen", "My bike was stolen.", extra=f"Reply-To: {IDN}")
    conversation.poll()
    assert len(conversation.received(RESIDENT)) == 1
    assert "shunted" not in conversation.kinds()


@pytest.mark.parametrize("header", [
    "=?utf-8?b?" + base64.b64encode(IDN.encode()).decode() + "?=",
    "x@=?utf-8?q?evil?=.example",
    "=?utf-8?q?a=0D=0ABcc=3A_x=40evil=2Eexample?= <=?utf-8?q?x?=@ex.com>",
    '"=?utf-8?b?' + base64.b64encode("राम".encode()).decode() + '?=" <bad..dots@example.in>',
])
def test_a_crafted_encoded_word_from_never_shunts_the_complaint(conversation, header):
    conversation.send(header, "Fire in the market", "There is a fire in the market, hurry.")
    conversation.poll()
    store = conversation.store()
    assert conversation.kinds() == ["new"]
    [complaint] = store.complaints()
    assert complaint["urgency"] == "urgent"
    assert conversation.received(OFFICER)  # the officers have it


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


def test_oversize_follow_up_and_status_are_not_forwarded_whole(conversation):
    conversation.configure(max_mail_mb=1)
    code, _ = conversation.file()
    conversation.deliver(
        _with_attachment(RESIDENT, f"Re: [{code}] photo", "Here is the photo of the men.",
                         1_500_000),
        _with_attachment(RESIDENT, f"STATUS {code}", "", 1_200_000))
    conversation.poll()
    [followup_notice] = conversation.received(OFFICER)
    assert "photo of the men" in followup_notice.get_content()
    assert not list(followup_notice.iter_attachments())
    told = conversation.received(RESIDENT)
    subjects = sorted(m["Subject"] for m in told)
    assert len([s for s in subjects if "too large" in s]) == 2
    assert len([s for s in subjects if "Status" in s]) == 1
    assert all(len(m.as_bytes()) < 100_000 for m in told)
