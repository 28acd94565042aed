"""maildesk.mail.parse: the fixtures in tests/mail, decoding corner cases, and fuzzing."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from maildesk.mail.parse import MAX_ATTACHMENTS, Attachment, ParsedMail, header_values, parse_mail

MAIL = Path(__file__).parent / "mail"
FIXTURES = sorted(MAIL.glob("*.eml"))
IST = timezone(timedelta(hours=5, minutes=30))
JPEG_SHA256 = "24ac74130806ae02d7e4ee72881b977601999c6c9f94ee1545ed4830459b737f"
PDF_SHA256 = "347195652daa3eda89bfedb2336c09efe66ec46b3af8c9e45f98e1a5e1cef0fd"


def load(name: str) -> ParsedMail:
    mail = parse_mail((MAIL / name).read_bytes())
    assert_sane(mail)
    return mail


def assert_sane(mail: ParsedMail) -> None:
    """The invariants every caller relies on, whatever the input was."""
    assert isinstance(mail, ParsedMail)
    for f in dataclasses.fields(ParsedMail):
        value = getattr(mail, f.name)
        if isinstance(value, str):
            value.encode("utf-8")  # no lone surrogates: storable as TEXT
    for text in (mail.subject, mail.from_name, mail.from_addr, mail.reply_to):
        assert isinstance(text, str) and "\n" not in text and "\x00" not in text
    assert isinstance(mail.text, str) and "\x00" not in mail.text and "\r" not in mail.text
    assert mail.message_id is None or (mail.message_id and "<" not in mail.message_id)
    assert all(isinstance(i, str) and i for i in mail.in_reply_to + mail.references)
    assert all(isinstance(a, str) and "@" in a for a in mail.to_addrs + mail.failed_recipients)
    assert mail.date is None or mail.date.tzinfo is not None
    assert mail.language in (None, "en", "hi", "bn", "mr")
    assert mail.report_type in ("", "delivery-status", "disposition-notification")
    for name, values in mail.headers.items():
        assert name == name.lower() and isinstance(values, tuple)
        assert all(isinstance(v, str) and "\n" not in v for v in values)
    assert len(mail.attachments) <= MAX_ATTACHMENTS
    for att in mail.attachments:
        assert isinstance(att, Attachment)
        assert att.size == len(att.data)
        assert att.sha256 == hashlib.sha256(att.data).hexdigest()
        assert att.filename and len(att.filename) <= 120
        assert "/" not in att.filename and "\\" not in att.filename
        assert not att.filename.startswith(".")
        assert att.content_type == att.content_type.lower() and "/" in att.content_type
    assert all(isinstance(d, str) for d in mail.defects)
    assert mail.error is None or isinstance(mail.error, str)


def mime(headers: str, body: str | bytes = "hello\n") -> bytes:
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    return headers.strip("\n").replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n" + raw


# --------------------------------------------------------------------------- fixtures


def test_fixture_set_is_complete() -> None:
    assert len(FIXTURES) >= 20


def test_en_urgent_fire() -> None:
    m = load("en_urgent_fire.eml")
    assert m.error is None
    assert m.subject == "URGENT: Fire in the building next door"
    assert "Fire in the building next door, people trapped, please send help now" in m.text
    assert m.from_addr == "ananya.roy1987@gmail.com" and m.from_name == "Ananya Roy"
    assert m.to_addrs == ("behala.ps@maildesk.test",)
    assert m.message_id == "CAJx8w3LqZ7fire0001kPz@mail.gmail.com"
    assert m.date == datetime(2024, 11, 16, 21, 14, 3, tzinfo=IST)
    assert m.language == "en" and not m.from_html and m.attachments == ()
    assert header_values(m, "Authentication-Results")[0].startswith("mx.maildesk.test; dkim=pass")
    assert header_values(m, "RETURN-PATH") == ("<ananya.roy1987@gmail.com>",)


def test_hi_theft_prefers_plain_alternative() -> None:
    m = load("hi_theft.eml")
    assert m.error is None
    assert m.subject == "मेरे घर में चोरी हो गई है"
    assert "कल रात मेरे घर में चोरी हो गई।" in m.text
    assert "HTML version" not in m.text and not m.from_html
    assert m.language == "hi"
    assert m.to_addrs == ("dadar.ps@maildesk.test", "suresh.verma.dadar@gmail.com")


def test_bn_long_subject_joins_encoded_words() -> None:
    m = load("bn_long_subject.eml")
    assert m.error is None
    assert m.subject == (
        "বেহালা থানা এলাকায় গত তিন সপ্তাহ ধরে রাতে বাইক চুরির ঘটনা বেড়ে চলেছে, আমাদের পাড়ার "
        "তিনটি মোটরসাইকেল চুরি হয়েছে, দয়া করে রাতের টহল বাড়ানোর ব্যবস্থা করুন"
    )
    assert len(m.subject) > 120
    assert "আমার নিজের বাইক (WB 06 X 0000)" in m.text  # quoted-printable body
    assert m.language == "bn"
    assert m.date == datetime(2024, 11, 18, 5, 11, 22, tzinfo=UTC)


def test_mr_noise() -> None:
    m = load("mr_noise.eml")
    assert m.error is None
    assert m.subject == "लाऊडस्पीकरच्या आवाजाबाबत तक्रार"
    assert "मोठ्या आवाजात लाऊडस्पीकर लावले जातात" in m.text
    assert m.language == "mr"
    assert m.from_name == "Sunita Patil"
    assert m.reply_to == "sunita.patil.sp@rediffmail.com"
    assert m.date == datetime(2024, 11, 19, 18, 18, 9, tzinfo=UTC)  # "-0000": UTC


def test_hinglish_chor() -> None:
    m = load("hinglish_chor.eml")
    assert m.subject == "ghar mein chor ghus gaya"
    assert "koi madad karo jaldi" in m.text
    assert m.language == "hi" and m.error is None


def test_banglish() -> None:
    m = load("banglish.eml")
    assert m.subject == "amar bari te churi hoyeche"
    assert "apnara taratari\nkichu korun" in m.text
    assert m.language == "bn" and m.error is None


def test_html_only() -> None:
    m = load("html_only.eml")
    assert m.error is None and m.from_html
    assert m.subject == "Scooter stolen near Matunga station"
    assert m.text.startswith("Respected Sir,\n\nMy scooter (MH 01 AB 0000) was stolen")
    assert "I have the purchase papers" in m.text
    assert "font-family" not in m.text and "rediff_sig" not in m.text and "<br>" not in m.text
    assert "\nPlease register my complaint." in m.text  # <br>s became line breaks
    assert m.language == "en"


def test_with_attachment_sanitises_names() -> None:
    m = load("with_attachment.eml")
    assert m.error is None
    assert m.subject == "Chain snatching at Behala Chowrasta - photos and FIR copy"
    assert m.text.startswith("Sir, my gold chain was snatched")
    photo, pdf, injected = m.attachments
    assert (photo.filename, photo.content_type, photo.size) == ("চুরির ছবি.jpg", "image/jpeg", 159)
    assert photo.sha256 == JPEG_SHA256 and photo.data.startswith(b"\xff\xd8")
    assert (pdf.filename, pdf.content_type, pdf.size) == ("passwd", "application/pdf", 607)
    assert pdf.sha256 == PDF_SHA256 and pdf.data.startswith(b"%PDF-1.4")
    assert injected.filename == "photoX-Injected_ 1.jpg"  # CR/LF gone, ":" neutralised
    assert injected.sha256 == JPEG_SHA256
    assert "data" not in repr(photo).split("sha256")[1]  # payload kept out of repr


def test_autoreply_out_of_office() -> None:
    m = load("autoreply_out_of_office.eml")
    assert header_values(m, "auto-submitted") == ("auto-replied",)
    assert m.subject == "Automatic reply: [BHL-2611-0002] Complaint received"
    assert m.in_reply_to == ("ack-2@maildesk.test",)
    assert m.text.startswith("I am out of office until 25 November")
    assert not m.from_html and m.error is None


def test_vacation_x_autoreply() -> None:
    m = load("vacation_x_autoreply.eml")
    assert header_values(m, "X-Autoreply") == ("yes",)
    assert header_values(m, "precedence") == ("auto_reply",)
    assert m.in_reply_to == ("ack-4@maildesk.test",)
    assert m.error is None


def test_bounce_dsn() -> None:
    m = load("bounce_dsn.eml")
    assert m.error is None
    assert m.is_report and m.report_type == "delivery-status"
    # Only the "Action: failed" recipient, not the delayed one.
    assert m.failed_recipients == ("ramesh.kumar1975@rediffmail.com",)
    assert m.from_addr == "mailer-daemon@mx.maildesk.test"
    assert m.subject == "Undelivered Mail Returned to Sender"
    assert "could not\nbe delivered" in m.text
    assert "Reporting-MTA" not in m.text  # the machine-readable part is not body text
    (returned,) = m.attachments
    assert returned.content_type == "message/rfc822" and returned.filename == "attachment-1.eml"
    assert b"Message-ID: <ack-3@maildesk.test>" in returned.data


def test_list_mail() -> None:
    m = load("list_mail.eml")
    assert header_values(m, "list-id") == (
        "Kolkata Residents Forum <news.kolkata-residents.example.org>",
    )
    assert header_values(m, "precedence") == ("bulk",)
    # Folded header values are unfolded.
    assert header_values(m, "list-unsubscribe")[0] == (
        "<mailto:unsubscribe@kolkata-residents.example.org>, "
        "<https://kolkata-residents.example.org/unsubscribe?u=8812>"
    )


def test_broken_mime_no_boundary_recovers_parts() -> None:
    m = load("broken_mime_no_boundary.eml")
    assert m.error is None
    assert m.text == (
        "My mobile phone (Redmi, black) was stolen in the bus near Taratala crossing at\n"
        "around 6 pm. The IMEI number is 860000000000000."
    )
    assert "NoBoundaryInMultipartDefect" in m.defects


def test_bad_charset() -> None:
    m = load("bad_charset.eml")
    assert m.error is None
    assert m.subject == "Complaint – fights in our lane"  # =?x-unknown?Q?...?= fell back
    assert "আমাদের গলিতে রোজ রাতে মারামারি হয়।" in m.text  # UTF-8 labelled x-unknown
    assert "from my café – the “staff” saw it." in m.text  # cp1252 labelled utf-8
    assert "\ufffd" not in m.text
    assert any(d.startswith("UnknownCharset") for d in m.defects)


def test_raw_utf8_headers() -> None:
    m = load("raw_utf8_headers.eml")
    assert m.subject == "আমার সাইকেল চুরি হয়েছে"
    assert m.from_name == "সৌমিত্র বসু" and m.from_addr == "soumitra.basu@gmail.com"
    assert m.to_addrs == ("behala.ps@maildesk.test",)
    assert header_values(m, "to") == ("বেহালা থানা <behala.ps@maildesk.test>",)
    assert m.language == "bn" and m.error is None


def test_no_headers() -> None:
    m = load("no_headers.eml")
    assert m.error is None
    assert m.subject == "" and m.from_addr == "" and m.message_id is None and m.date is None
    assert m.text.startswith("Respected Sir,\n\nMy mother Kalpana Das (72) has been missing")
    assert m.language == "en"


def test_truncated_base64() -> None:
    m = load("truncated_base64.eml")
    assert m.error is None
    assert m.subject == "Threatening phone calls"
    assert m.text.startswith("Sir, someone is calling me every night")


def test_followup_reply() -> None:
    m = load("followup_reply.eml")
    assert m.subject == "Re: [BHL-2611-0001] Complaint received: bike theft"
    assert m.in_reply_to == ("ack-1@maildesk.test",)
    assert m.references == ("1125663342.2201.1731906682@mail.yahoo.com", "ack-1@maildesk.test")
    assert m.text.startswith("ধন্যবাদ। আমার বাইকের নম্বর WB 06 X 0000")
    assert "> Your complaint has been registered as BHL-2611-0001." in m.text
    # The quoted English acknowledgement does not outvote the Bengali reply.
    assert m.language == "bn"


def test_status_request() -> None:
    m = load("status_request.eml")
    assert m.subject == "STATUS BHL-2611-0001"
    assert m.text == "Sent from Yahoo Mail on Android"
    assert m.error is None


def test_nul_bytes() -> None:
    m = load("nul_bytes.eml")
    assert m.error is None
    assert m.subject == "Bike chori ho gayi"
    assert "मेरी बाइक कल रात घर के बाहर से चोरी हो गई है।" in m.text
    assert "कृपया रिपोर्ट दर्ज करें।" in m.text
    assert m.language == "hi"


def test_forwarded_rfc822() -> None:
    m = load("forwarded_rfc822.eml")
    # Issue 11 item 5: the forwarded mail's words are read too, under a forward line.
    assert m.text == (
        "Sir, I received the attached threatening mail yesterday. Please look into it.\n\n"
        "---------- Forwarded message ----------\n"
        "From: unknown sender <no.name.2024@mailinator.example>\n"
        "Date: Fri, 29 Nov 2024 23:59:00 +0530\nSubject: You will regret this\n"
        "To: farhan.qureshi88@gmail.com\n\nWithdraw your complaint or you will regret it."
    )
    assert m.language == "en"
    (fwd,) = m.attachments
    assert fwd.filename == "You will regret this.eml" and fwd.content_type == "message/rfc822"
    assert b"Withdraw your complaint" in fwd.data


def test_mdn_read_receipt() -> None:
    m = load("mdn_read_receipt.eml")
    assert m.is_report and m.report_type == "disposition-notification"
    assert m.failed_recipients == ()
    assert m.text.startswith("Your message was displayed")
    assert m.attachments == ()


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_every_fixture_parses_cleanly(path: Path) -> None:
    m = parse_mail(path.read_bytes())
    assert_sane(m)
    assert m.error is None
    assert m.text


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("=?utf-8?q?Chori?= =?utf-8?q?_ho_gayi?=", "Chori ho gayi"),  # adjacent: no space
        ("=?utf-8?q?Chori?=\n =?utf-8?q?ho?=", "Choriho"),  # folded adjacent words
        ("Re: =?utf-8?b?4Kaa4KeB4Kaw4Ka/?= case", "Re: চুরি case"),  # spaces next to text kept
        ("=?UTF-8?B?4Kaa4KeB?= =?UTF-8?B?4Kaw4Ka/?=", "চুরি"),
        ("=?utf-8?b?4Kaa4Ke=?= =?utf-8?b?geCmsOCmvw==?=", "চুরি"),  # char split across words
        ("=?iso-8859-1?q?caf=E9?= =?utf-8?q?_=E2=80=93?=", "café –"),  # mixed charsets
        ("=?x-unknown?b?4KaH4Kaf?=", "ইট"),  # unknown charset: UTF-8 fallback
        ("=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="),  # undecodable word stays as written
        ("=?utf8?q?ok?=", "ok"),
        ("=?unicode-1-1-utf-7?q?+CTkJPwkuCT4-?=", "हिमा"),
        ("=?utf-8*hi?q?=E0=A4=B9?=", "ह"),  # RFC 2231 language tag
        ("  lots \t of\n  space  ", "lots of space"),
        ("", ""),
    ],
)
def test_subject_decoding(raw: str, want: str) -> None:
    m = parse_mail(mime(f"Subject: {raw}\nFrom: a@b.in"))
    assert m.subject == want
    assert m.from_addr == "a@b.in"


def test_bad_date_does_not_lose_other_headers() -> None:
    m = parse_mail(mime("Date: 45 Smarch 20244 99:99\nSubject: still here\nFrom: x <X@Y.in>"))
    assert m.date is None and m.subject == "still here" and m.from_addr == "x@y.in"
    assert "InvalidDate" in m.defects


def test_date_without_zone_is_utc() -> None:
    m = parse_mail(mime("Date: Mon, 25 Nov 2024 10:00:00\nSubject: x"))
    assert m.date == datetime(2024, 11, 25, 10, 0, tzinfo=UTC)


def test_duplicate_and_long_headers() -> None:
    long_value = "x" * 5000
    m = parse_mail(
        mime(
            f"Subject: first\nSubject: second\nX-Long: {long_value}\nReceived: a\nReceived: b\n"
            f"From: One <one@x.in>\nFrom: Two <two@x.in>\nReferences: {'<r@x> ' * 800}"
        )
    )
    assert m.subject == "first" and m.from_addr == "one@x.in"
    assert header_values(m, "subject") == ("first", "second")
    assert header_values(m, "received") == ("a", "b")
    assert header_values(m, "x-long") == (long_value,)
    assert m.references == ("r@x",)
    with pytest.raises(TypeError):
        m.headers["subject"] = ("changed",)  # type: ignore[index]


def test_addresses() -> None:
    m = parse_mail(
        mime(
            'From: "Das, Amit" <Amit.Das@Gmail.COM>\n'
            "To: undisclosed-recipients:;\n"
            "Cc: a@x.in, =?utf-8?b?4Kaw4Ka+4Kac4Ka+?= <Raja@Y.in>, not-an-address, a@x.in\n"
            "Reply-To: <Help@Desk.in>\n"
            "In-Reply-To: <one@x> (message from someone)\n"
            "Message-ID:   <  abc@def  >  "
        )
    )
    assert (m.from_name, m.from_addr) == ("Das, Amit", "amit.das@gmail.com")
    assert m.to_addrs == ("a@x.in", "raja@y.in")
    assert m.reply_to == "help@desk.in"
    assert m.in_reply_to == ("one@x",)
    assert m.message_id == "abc@def"


def test_encoded_display_name_and_garbage_from() -> None:
    m = parse_mail(mime("From: =?utf-8?b?4Kaw4Ka+4Kac4Ka+?= <raja@y.in>"))
    assert (m.from_name, m.from_addr) == ("রাজা", "raja@y.in")
    m = parse_mail(mime("From: <<<>>> @@ ,,,"))
    assert m.from_addr == "" and m.error is None
    m = parse_mail(mime("Message-ID: <>\nFrom: MAILER-DAEMON"))
    assert m.message_id is None and m.from_addr == ""


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("charset", "body", "want"),
    [
        ("utf8", "চুরি".encode(), "চুরি"),
        ("UTF-8", "चोरी".encode(), "चोरी"),
        ("unicode-1-1-utf-7", b"+CTkJPwkuCT4-", "हिमा"),
        ("x-unknown", "চুরি".encode(), "চুরি"),
        ("iso-8859-1", "চুরি".encode(), "চুরি"),  # valid UTF-8 beats a weak label
        ("iso-8859-1", "café".encode("latin-1"), "café"),
        ("utf-8", "café".encode("cp1252"), "café"),
        ("base64", b"hello", "hello"),  # not a text codec
        ("punycode", b"hello", "hello"),
        ('"utf-8"', "চুরি".encode(), "চুরি"),
    ],
)
def test_body_charsets(charset: str, body: bytes, want: str) -> None:
    m = parse_mail(mime(f'Content-Type: text/plain; charset="{charset}"', body))
    assert m.text == want


def test_content_type_without_subtype() -> None:
    assert parse_mail(mime("Content-Type: text", "plain words")).text == "plain words"
    m = parse_mail(mime("Content-Type: image\nContent-Transfer-Encoding: base64", "AAEC"))
    assert m.text == "" and m.attachments[0].data == b"\x00\x01\x02"
    assert m.attachments[0].content_type == "application/octet-stream"


def test_garbage_base64_body() -> None:
    body = "SGVs bG8g!!d29y\nbGQ#"  # junk characters and missing padding
    m = parse_mail(mime("Content-Type: text/plain\nContent-Transfer-Encoding: base64", body))
    assert m.text == "Hello world"


def multipart(parts: list[tuple[str, str | bytes]], ctype: str = "multipart/mixed") -> bytes:
    out = [f'Subject: t\nContent-Type: {ctype}; boundary="BB"\n\n'.encode()]
    for headers, body in parts:
        data = body if isinstance(body, bytes) else body.encode()
        out.append(b"--BB\n" + headers.encode() + b"\n\n" + data + b"\n")
    out.append(b"--BB--\n")
    return b"".join(out)


def test_inline_text_parts_are_concatenated_in_order() -> None:
    raw = multipart(
        [
            ("Content-Type: text/plain", "first"),
            ("Content-Type: image/png\nContent-Disposition: inline", "PNG"),
            ("Content-Type: text/plain", "second"),
            ("Content-Type: text/plain\nContent-Disposition: attachment", "not body"),
            ('Content-Type: text/plain; name="notes.txt"', "not body either"),
        ]
    )
    m = parse_mail(raw)
    assert m.text == "first\n\nsecond"
    assert [a.filename for a in m.attachments] == [
        "attachment-1.png",
        "attachment-2.txt",
        "notes.txt",
    ]


def test_alternative_with_empty_plain_uses_html_and_keeps_inline_images() -> None:
    related = (
        'Content-Type: multipart/related; boundary="RR"',
        "--RR\nContent-Type: text/html\n\n<p>Theft <b>near</b> the park</p>\n"
        "--RR\nContent-Type: image/jpeg\nContent-ID: <img1>\nContent-Transfer-Encoding: base64\n"
        "\n/9j/2w==\n--RR--",
    )
    m = parse_mail(
        multipart([("Content-Type: text/plain", "  \n"), related], "multipart/alternative")
    )
    assert m.text == "Theft near the park" and m.from_html
    assert [a.content_type for a in m.attachments] == ["image/jpeg"]
    assert m.attachments[0].data == b"\xff\xd8\xff\xdb"


def test_attachment_count_is_capped() -> None:
    parts = [("Content-Type: text/plain", "body")] + [
        (f'Content-Type: image/png; name="p{i}.png"', "x") for i in range(MAX_ATTACHMENTS + 20)
    ]
    m = parse_mail(multipart(parts))
    assert m.text == "body" and len(m.attachments) == MAX_ATTACHMENTS
    assert "AttachmentLimitExceeded" in m.defects


def test_forward_only_mail_shows_forwarded_text() -> None:
    inner = "Subject: inner\nContent-Type: text/plain\n\nthe forwarded words"
    m = parse_mail(multipart([("Content-Type: message/rfc822", inner)]))
    head = "---------- Forwarded message ----------\nSubject: inner"
    assert m.text == f"{head}\n\nthe forwarded words"
    assert m.attachments[0].filename == "attachment-1.eml"


def test_html_edge_cases() -> None:
    m = parse_mail(
        mime("Content-Type: text/html", "<?xml version='1.0' encoding='utf-8'?><p>x</p>")
    )
    assert m.text == "x"
    m = parse_mail(mime("Content-Type: text/html", "<div>" * 5000 + "deep text"))
    assert "deep text" in m.text
    m = parse_mail(mime("Content-Type: text/html", "<" * 20000 + "<script>" * 2000 + "end"))
    assert m.error is None
    m = parse_mail(
        mime(
            "Content-Type: text/html",
            '<meta charset="windows-1252"><p>caf\xe9</p>'.encode("latin-1"),
        )
    )
    assert m.text == "café"


def test_filename_parameter_forms() -> None:
    raw = multipart(
        [
            ('Content-Type: image/jpeg; name="ছবি.jpg"', "x"),  # raw 8-bit UTF-8
            (
                "Content-Type: image/jpeg\nContent-Disposition: attachment;\n"
                " filename*0*=utf-8''%E0%A6%9A%E0%A7%81;\n filename*1*=%E0%A6%B0%E0%A6%BF.jpg",
                "x",
            ),
            (
                "Content-Type: image/jpeg\nContent-Disposition: attachment;"
                " filename*=x-unknown''%E0%A6%9B.jpg",
                "x",
            ),  # unknown charset: UTF-8 fallback
            (
                'Content-Type: image/jpeg\nContent-Disposition: attachment; filename="a\\"b.jpg"',
                "x",
            ),
        ]
    )
    names = [a.filename for a in parse_mail(raw).attachments]
    assert names == ["ছবি.jpg", "চুরি.jpg", "ছ.jpg", "a_b.jpg"]


def test_transfer_encoding_is_matched_leniently() -> None:
    m = parse_mail(mime("Content-Transfer-Encoding:  BASE64 \nContent-Type: text/plain", "aGk="))
    assert m.text == "hi"
    m = parse_mail(mime("Content-Transfer-Encoding: quoted-printable", "caf=C3=A9 =\nok"))
    assert m.text == "café ok"


def test_attached_message_keeps_its_original_bytes() -> None:
    inner = b"Subject: inner\nContent-Type: text/plain; charset=gb2312\n\n\xff\xfe broken \xe0\xa6"
    raw = multipart(
        [("Content-Type: text/plain", "see attached"), ("Content-Type: message/rfc822", inner)]
    )
    m = parse_mail(raw)
    assert m.text.startswith("see attached\n\n---------- Forwarded message ----------\n")
    (att,) = m.attachments
    assert att.data.endswith(b"\xff\xfe broken \xe0\xa6")
    assert b"Subject: inner\r\n" in att.data


def test_x_failed_recipients_header() -> None:
    m = parse_mail(
        mime(
            "From: Mail Delivery System <Mailer-Daemon@mx.example.in>\n"
            "X-Failed-Recipients: A@x.in, b@y.in"
        )
    )
    assert m.failed_recipients == ("a@x.in", "b@y.in")
    assert not m.is_report


@pytest.mark.parametrize(
    ("raw_name", "want"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\Amit\\Desktop\\FIR.pdf", "FIR.pdf"),
        ("...hidden.jpg", "hidden.jpg"),
        ("..", "attachment-1.jpg"),
        ("  \t ", "attachment-1.jpg"),
        ("a\u202egpj.exe", "agpj.exe"),  # bidi override removed
        ("ক্\u200dষ.jpg", "ক্\u200dষ.jpg"),  # ZWJ kept: it shapes Bengali
        ("cafe\u0301.jpg", "café.jpg"),  # NFC
        ("x" * 300 + ".jpeg", "x" * 115 + ".jpeg"),
        ("চ" * 200 + ".jpg", "চ" * 78 + ".jpg"),  # also within 240 UTF-8 bytes
        ("noext" * 40, ("noext" * 40)[:120]),
    ],
)
def test_filename_sanitising(raw_name: str, want: str) -> None:
    encoded = base64.b64encode(raw_name.encode()).decode()
    raw = multipart([(f'Content-Type: image/jpeg; name="=?utf-8?b?{encoded}?="', "x")])
    (att,) = parse_mail(raw).attachments
    assert att.filename == want


# --------------------------------------------------------------------------- never raises


@pytest.mark.parametrize(
    "raw",
    [b"", b"\r\n\r\n", b"\x00" * 100, b"\xff\xfe\xfd", b"Subject: only a header", b"From:"],
)
def test_degenerate_inputs(raw: bytes) -> None:
    assert_sane(parse_mail(raw))


def test_empty_input_is_an_error_with_placeholder() -> None:
    m = parse_mail(b"")
    assert m.error and m.text == "(unreadable mail, 0 bytes)"


def test_non_bytes_inputs() -> None:
    assert parse_mail(bytearray(b"Subject: hi\n\nbody")).subject == "hi"  # type: ignore[arg-type]
    assert parse_mail("Subject: hi\n\nbody").text == "body"  # type: ignore[arg-type]
    assert parse_mail(None).error  # type: ignore[arg-type]
    assert parse_mail(12345).error  # type: ignore[arg-type]


def test_absurd_nesting_keeps_headers() -> None:
    raw = b"Subject: nested\r\nFrom: a@b.in\r\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(3000)
    )
    m = parse_mail(raw)
    assert_sane(m)
    assert m.subject == "nested" and m.from_addr == "a@b.in"
    assert m.error is not None and m.text.startswith("(unreadable mail,")


def test_fuzz_never_raises() -> None:
    rng = random.Random(20241123)
    corpus = [p.read_bytes() for p in FIXTURES]
    inputs: list[bytes] = [rng.randbytes(rng.randint(0, 3000)) for _ in range(150)]
    for data in corpus:
        cuts = sorted({rng.randint(0, len(data)) for _ in range(25)})
        inputs.extend(data[:cut] for cut in cuts)
        for _ in range(8):
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 40)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            inputs.append(bytes(flipped))
    nasty = [b"=?", b"?=", b"\r", b"\n", b"\x00", b"--", b"<", b">", b";", b'"', b"\xe0\xa6"]
    for data in corpus:
        for _ in range(4):
            chunks = bytearray(data)
            for _ in range(30):
                pos = rng.randrange(len(chunks) + 1)
                chunks[pos:pos] = rng.choice(nasty)
            inputs.append(bytes(chunks))
    assert len(inputs) >= 500
    for data in inputs:
        assert_sane(parse_mail(data))


def test_five_megabyte_mail() -> None:
    blob = random.Random(5).randbytes(3_800_000)
    body = base64.encodebytes(blob).decode()
    raw = multipart(
        [
            ("Content-Type: text/plain; charset=utf-8", "আমার বাড়িতে চুরি হয়েছে। " * 2000),
            ('Content-Type: video/mp4; name="cctv.mp4"\nContent-Transfer-Encoding: base64', body),
        ]
    )
    assert len(raw) > 5_000_000
    start = time.perf_counter()
    m = parse_mail(raw)
    elapsed = time.perf_counter() - start
    assert_sane(m)
    assert m.language == "bn" and m.text.startswith("আমার বাড়িতে চুরি হয়েছে।")
    (video,) = m.attachments
    assert video.data == blob and video.filename == "cctv.mp4"
    assert elapsed < 10  # typically well under a second


def test_five_megabyte_single_line_body() -> None:
    m = parse_mail(b"Subject: big\r\n\r\n" + b"a" * 5_000_000)
    assert_sane(m)
    assert len(m.text) == 5_000_000


@pytest.mark.parametrize(
    "raw",
    [
        b'Content-Type: multipart/mixed; boundary="b"\n\n'
        + b"--b\nContent-Type: text/plain\n\nx\n" * 200_000,
        b"Subject: " + b"=?utf-8?q?a?= " * 500_000 + b"\n\nbody",
        b"To: " + b"a@b.in, " * 400_000 + b"\n\nbody",
        b'Content-Type: text/plain; a="' + b'\\"' * 1_000_000 + b'"\n\nbody',
        b"Content-Type: text/html\n\n" + b"<" * 3_000_000 + b"<script>" * 100_000,
    ],
    ids=["200k-parts", "500k-encoded-words", "400k-addresses", "escaped-param", "html-junk"],
)
def test_hostile_mail_stays_fast(raw: bytes) -> None:
    start = time.perf_counter()
    m = parse_mail(raw)
    elapsed = time.perf_counter() - start
    assert_sane(m)
    assert m.error is None
    assert elapsed < 5  # each takes well under a second here; unguarded, up to 15 s


def test_ten_megabytes_of_random_bytes() -> None:
    raw = random.Random(10).randbytes(10_000_000)
    start = time.perf_counter()
    m = parse_mail(raw)
    assert_sane(m)
    assert m.error is None and m.text  # stored as best-effort text, not lost
    assert time.perf_counter() - start < 10  # about 1 s here
