"""Hostile and broken mail (issue 11): the resident's words are never lost to the way a mail
is built, and every mail of tests/hostile.py's generator goes through the real flow (Dovecot
in, the desk's poll, SMTP out): stored, sorted sensibly, answered or not as the SPEC says,
within a bounded time each."""

from __future__ import annotations

import base64

from deskenv import REPO, encoded_words, resident_mail

from maildesk.mail.parse import FORWARD_LINE, parse_mail
from maildesk.triage.classify import classify
from maildesk.triage.phrases import read_rules

RESIDENT = "amit.sharma@yahoo.co.in"
WORDS = "Two men on a bike snatched my chain near the Behala tram depot at 8 pm."


def nested(levels: int, leaf: bytes) -> bytes:
    """A mail whose only text part sits `levels` multiparts deep."""
    head = b"From: amit.sharma@yahoo.co.in\r\nSubject: chain snatched\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
                       for i in range(levels))
    closing = b"".join(b"\r\n--n%d--\r\n" % i for i in reversed(range(levels)))
    return head + opening + leaf + closing


PLAIN_LEAF = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + WORDS.encode()


# --------------------------------------------------------------------------- text lost


def test_words_inside_a_fifty_level_nested_multipart_are_read():
    mail = parse_mail(nested(50, PLAIN_LEAF))
    assert mail.error is None and mail.text == WORDS


def test_words_below_what_the_mime_parser_can_nest_are_read_piece_by_piece():
    # Thousands of levels exhaust the stdlib parser's recursion; the parts are still read.
    mail = parse_mail(nested(3000, PLAIN_LEAF))
    assert mail.error is None and mail.text == WORDS
    assert mail.subject == "chain snatched"
    assert any(d.startswith("MimeReadPieceByPiece") for d in mail.defects)
    # Nothing at the bottom: the mail stays unreadable rather than inventing text.
    empty = parse_mail(nested(3000, b"Content-Type: image/png\r\n\r\n"))
    assert empty.error is not None and empty.text.startswith("(unreadable mail,")


def test_deep_alternative_keeps_one_branch():
    leaf = (b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n--alt\r\n'
            b"Content-Type: text/plain\r\n\r\nplain words\r\n--alt\r\n"
            b"Content-Type: text/html\r\n\r\n<p>html words</p>\r\n--alt--")
    assert parse_mail(nested(60, leaf)).text == "plain words"


def forward(outer_text: str, inner: bytes) -> bytes:
    return ("From: amit.sharma@yahoo.co.in\r\nSubject: Fwd: see this\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="F"\r\n\r\n--F\r\n'
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{outer_text}\r\n--F\r\n"
            'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fw.eml"'
            "\r\n\r\n").encode() + inner + b"\r\n--F--\r\n"


def test_the_body_of_a_forwarded_message_is_read():
    inner = ("From: Rina Das <rina.das@gmail.com>\r\nSubject: =?utf-8?b?"
             + base64.b64encode("চুরি".encode()).decode() + "?=\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\n"
             "Someone is breaking the lock of the house next door right now.").encode()
    mail = parse_mail(forward("My neighbour sent me this, please help her.", inner))
    assert mail.text == (
        "My neighbour sent me this, please help her.\n\n"
        f"{FORWARD_LINE}\nFrom: Rina Das <rina.das@gmail.com>\nSubject: চুরি\n\n"
        "Someone is breaking the lock of the house next door right now.")
    [eml] = mail.attachments  # the forwarded mail is kept whole as well
    assert eml.filename == "fw.eml" and b"breaking the lock" in eml.data
    # The forwarded words count for the urgency: a break-in happening now.
    verdict = classify(read_rules(REPO / "config" / "rules.yaml"), mail.subject, mail.text)
    assert verdict.urgency == "urgent", verdict.reasons


def test_a_forward_of_a_forward_keeps_both_texts():
    innermost = b"Subject: first\r\n\r\nthe first words"
    middle = (b"Subject: second\r\nMIME-Version: 1.0\r\n"
              b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n--M\r\n\r\nsecond words\r\n'
              b"--M\r\nContent-Type: message/rfc822\r\n\r\n" + innermost + b"\r\n--M--")
    text = parse_mail(forward("outer words", middle)).text
    assert text.index("outer words") < text.index("second words") < text.index("first words")


def test_a_bounce_does_not_show_the_mail_it_returns():
    raw = (b"From: MAILER-DAEMON@mx.test\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
           b"--R\r\n\r\nThe mail could not be delivered.\r\n--R\r\n"
           b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n"
           b"Final-Recipient: rfc822; a@b.in\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--R\r\n"
           b"Content-Type: message/rfc822\r\n\r\nSubject: our answer\r\n\r\nour own words\r\n--R--")
    mail = parse_mail(raw)
    assert mail.text == "The mail could not be delivered."
    assert mail.failed_recipients == ("a@b.in",)


def test_inline_text_part_with_a_file_name_is_read_and_kept():
    raw = ("From: amit.sharma@yahoo.co.in\r\nSubject: theft\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="I"\r\n\r\n--I\r\n'
           'Content-Type: text/plain; charset=utf-8; name="message.txt"\r\n'
           'Content-Disposition: inline; filename="message.txt"\r\n\r\n'
           f"{WORDS}\r\n--I\r\n"
           'Content-Type: text/plain; name="notes.txt"\r\n'
           'Content-Disposition: attachment; filename="notes.txt"\r\n\r\n'
           "not the body\r\n--I--\r\n").encode()
    mail = parse_mail(raw)
    assert mail.text == WORDS
    assert [a.filename for a in mail.attachments] == ["message.txt", "notes.txt"]


def test_format_flowed_is_joined_as_the_sender_wrote_it():
    # RFC 3676: a trailing space is a soft break; DelSp=yes says that space is not text;
    # a leading space is stuffing; quotes flow only within the same depth.
    body = ("মোবাইল ছিনতাই হয়ে \r\n"
            "গেছে, ছুরি দেখিয়ে \r\n"
            "ভয় দেখাল\r\n"
            " From the station\r\n"
            "> quoted and \r\n"
            "> wrapped\r\n"
            ">> deeper \r\n"
            "> back\r\n"
            "-- \r\n"
            "Amit\r\n")
    flowed = parse_mail(("Subject: x\r\nContent-Type: text/plain; charset=utf-8; format=flowed"
                         "\r\n\r\n" + body).encode())
    assert flowed.text.split("\n") == [
        "মোবাইল ছিনতাই হয়ে গেছে, ছুরি দেখিয়ে ভয় দেখাল", "From the station",
        "> quoted and wrapped", ">> deeper", "> back", "--", "Amit"]
    split = "Someone is thr \r\neatening us with a kni \r\nfe.\r\n"
    delsp = parse_mail(("Subject: x\r\nContent-Type: text/plain; format=flowed; delsp=yes"
                        "\r\n\r\n" + split).encode())
    assert delsp.text == "Someone is threatening us with a knife."
    fixed = parse_mail(("Subject: x\r\nContent-Type: text/plain\r\n\r\n" + split).encode())
    assert fixed.text == "Someone is thr\neatening us with a kni\nfe."  # not flowed: as sent


# --------------------------------------------------------------------------- long subjects

LONG_SUBJECTS = {
    "hi": "हमारे मोहल्ले में रात को चोरी हुई है और पुलिस अभी तक नहीं आई कृपया जल्दी कार्रवाई करें",
    "bn": "আমাদের পাড়ায় গতকাল রাতে চুরি হয়েছে এবং পুলিশ এখনও আসেনি দয়া করে ব্যবস্থা নিন",
}


def test_long_hindi_and_bengali_subjects_are_read_with_their_spaces():
    for subject in LONG_SUBJECTS.values():
        # As careful clients fold: spaces inside the words, some words a few letters long,
        # a character split across two words, words next to plain text.
        data = subject.encode()
        cut = len("हमारे".encode()) + 1  # inside a character
        halves = [data[:cut], data[cut:]]
        split = "\r\n ".join(f"=?utf-8?b?{base64.b64encode(h).decode()}?=" for h in halves)
        gmail = encoded_words(subject, 7)
        q = "=?utf-8?q?" + "".join(f"={b:02X}" if b > 127 else ("_" if b == 32 else chr(b))
                                   for b in data) + "?="
        for header in (gmail, split, q, f"Fwd: {gmail} [BHL-2611-0007]"):
            mail = parse_mail(f"From: a@b.in\r\nSubject: {header}\r\n\r\nx".encode())
            assert mail.subject in (subject, f"Fwd: {subject} [BHL-2611-0007]"), header


def test_the_desks_own_subjects_keep_every_space(conversation):
    # What the desk writes (acknowledgement, officers' notification) is read back by a
    # standard parser with the resident's words intact, spaces and all.
    for language, subject in LONG_SUBJECTS.items():
        conversation.deliver(resident_mail(RESIDENT, conversation.bhl.address, subject,
                                           f"{WORDS} ({language})", f"long-{language}@yahoo"))
    conversation.poll()
    acks = conversation.subjects(RESIDENT)
    notes = conversation.subjects("si.mukherjee@maildesk.test")
    for subject in LONG_SUBJECTS.values():
        assert any(subject in s for s in acks), acks
        assert any(subject in s for s in notes), notes
    # ... and the desk's own reader agrees with the standard one (email.policy.default).
    for message in conversation.received(RESIDENT):
        assert parse_mail(message.as_bytes()).subject == str(message["Subject"])
