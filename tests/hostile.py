"""A generator of hostile and broken mail: every kind SPEC.md's promise "any byte sequence"
covers, each with what the desk must make of it.

`hostile_mails()` gives at least 150 mails (lying charsets, broken encoded words, 8-bit
headers, missing From/Date/Message-ID, 100 KB header lines, CR/LF mixes, deep nesting,
missing boundaries, bad base64, HTML with scripts, TNEF, calendar invites, bounces,
auto-replies in English, Hindi and Bengali with and without RFC 3834 headers, template syntax
and SQL-like text, CR/LF smuggled into encoded subjects, hostile attachment names and a 25 MB
attachment); `stdlib_mails()` the messages of Python's own email test suite, where installed.
Plain Python (no pytest), deterministic: the same mails on every run.
"""

from __future__ import annotations

import base64
import random
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATION = "bhl.ps@maildesk.test"
SMUGGLED = "smuggled.example"  # the domain every header-injection attempt tries to reach

# What sorting may make of a mail (sorting.rules.KINDS), grouped as the SPEC answers them.
COMPLAINT = frozenset({"new"})
MACHINE = frozenset({"autoreply"})
BOUNCE = frozenset({"bounce"})


@dataclass(frozen=True)
class Hostile:
    name: str
    raw: bytes
    kinds: frozenset[str]  # the kinds that are sensible for it
    answered: bool  # the sender gets an answer (SPEC: complaints yes, machine mail never)
    words: str = ""  # must stand in the stored text: nothing the resident wrote is lost
    sender: str = ""  # the address an answer goes to, if any

    @property
    def family(self) -> str:
        return self.name.split("/", 1)[0]


class _Builder:
    """Numbered senders and Message-IDs, so that no mail trips the per-sender limit."""

    def __init__(self) -> None:
        self.count = 0
        self.mails: list[Hostile] = []

    def sender(self) -> str:
        return f"resident{self.count}@example.in"

    def add(self, name: str, raw: bytes, kinds: frozenset[str] = COMPLAINT,
            answered: bool | None = None, words: str = "", sender: str | None = None) -> None:
        who = self.sender() if sender is None else sender
        if answered is None:
            answered = kinds == COMPLAINT and bool(who)
        self.mails.append(Hostile(name, raw, kinds, answered, words, who if answered else ""))
        self.count += 1

    def head(self, subject: str = "Complaint", extra: str = "", sender: str | None = None,
             date: bool = True, message_id: bool = True) -> str:
        lines = [f"From: {self.sender() if sender is None else sender}", f"To: {STATION}",
                 f"Subject: {subject}"]
        if date:
            lines.append("Date: Mon, 23 Nov 2026 10:00:00 +0530")
        if message_id:
            lines.append(f"Message-ID: <hostile-{self.count}@example.in>")
        lines += [line for line in extra.split("\n") if line]
        return "\r\n".join(lines) + "\r\n"

    def text(self, subject: str, body: str | bytes, ctype: str = "text/plain; charset=utf-8",
             cte: str = "8bit", extra: str = "", **head: object) -> bytes:
        data = body.encode() if isinstance(body, str) else body
        return (self.head(subject, extra, **head)  # type: ignore[arg-type]
                + f"MIME-Version: 1.0\r\nContent-Type: {ctype}\r\n"
                  f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + data

    def multipart(self, subject: str, parts: list[tuple[str, bytes | str]],
                  ctype: str = "multipart/mixed", boundary: str = "HOSTILE", extra: str = "",
                  **head: object) -> bytes:
        out = [(self.head(subject, extra, **head)  # type: ignore[arg-type]
                + f'MIME-Version: 1.0\r\nContent-Type: {ctype}; boundary="{boundary}"\r\n\r\n'
                ).encode()]
        for headers, body in parts:
            data = body.encode() if isinstance(body, str) else body
            out.append(f"--{boundary}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n")
        out.append(f"--{boundary}--\r\n".encode())
        return b"".join(out)


THEFT_BN = "আমার বাড়িতে কাল রাতে চুরি হয়েছে, দয়া করে সাহায্য করুন।"
THEFT_HI = "कल रात मेरे घर में चोरी हो गई, कृपया मदद करें।"
THEFT_EN = "My bicycle was stolen from outside the market yesterday evening."


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def _word(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?b?{base64.b64encode(text.encode(charset)).decode()}?="


def lying_charsets(b: _Builder) -> None:
    cases = [
        ("utf8-as-latin1", "iso-8859-1", THEFT_BN.encode(), "চুরি"),
        ("utf8-as-ascii", "us-ascii", THEFT_HI.encode(), "चोरी"),
        ("utf8-as-cp1252", "windows-1252", THEFT_BN.encode(), "চুরি"),
        ("cp1252-as-utf8", "utf-8", b"caf\xe9 theft \x93quoted\x94", "theft"),
        ("unknown-label", "x-unknown-charset", THEFT_HI.encode(), "चोरी"),
        ("utf16-label-on-ascii", "utf-16", THEFT_EN.encode(), "bicycle"),
        ("gb2312-label-on-utf8", "gb2312", THEFT_BN.encode(), "চুরি"),
        ("koi8-label-on-utf8", "koi8-r", THEFT_HI.encode(), ""),
        ("quoted-label", '"UTF-8"', THEFT_BN.encode(), "চুরি"),
        ("empty-label", "", THEFT_EN.encode(), "bicycle"),
        ("punycode-label", "punycode", THEFT_EN.encode(), "bicycle"),
        ("half-utf8", "utf-8", THEFT_BN.encode() + b"\xff\xfe\xa0" + THEFT_BN.encode(), "চুরি"),
    ]
    for name, charset, body, words in cases:
        b.add(f"charset/{name}", b.text("Theft", body, f"text/plain; charset={charset}"),
              words=words)
    html = f'<meta charset="iso-8859-1"><p>{THEFT_BN}</p>'.encode()
    b.add("charset/html-meta-lies", b.text("Theft", html, "text/html"), words="চুরি")


def broken_encoded_words(b: _Builder) -> None:
    subjects = [
        ("bad-base64", "=?utf-8?b?!!!?= chain snatched"),
        ("truncated", "=?utf-8?q?chain_snatch"),
        ("unknown-charset", "=?x-martian?b?4Kaa4KeB4Kaw4Ka/?="),
        ("no-padding", "=?utf-8?b?4Kaa4KeB4Kaw4Ka?="),
        ("split-character", "=?utf-8?b?4Kaa4Ke=?= =?utf-8?b?geCmsOCmvw==?="),
        ("empty-word", "=?utf-8?b??= =?utf-8?q??="),
        ("nested-markers", "=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?="),
        ("utf7", "=?utf-7?q?+CTkJPwkuCT4-?="),
        ("huge-word", "=?utf-8?b?" + base64.b64encode("चोरी ".encode() * 2000).decode() + "?="),
        ("many-words", " ".join(_word("চুরি") for _ in range(3000))),
        ("lone-surrogate", "=?utf-16?b?2AA=?="),
        ("rfc2231-lang", "=?utf-8*hi?q?=E0=A4=B9?= theft"),
    ]
    for name, subject in subjects:
        b.add(f"encoded-word/{name}", b.text(subject, THEFT_EN), words="bicycle")
    b.add("encoded-word/broken-display-name",
          b.text("Theft", THEFT_EN, sender=f"=?utf-8?b?!!?= {_word('রাম')} <{b.sender()}>"),
          words="bicycle")


def eight_bit_headers(b: _Builder) -> None:
    cases = [
        ("utf8-subject", f"Subject: {THEFT_BN}".encode()),
        ("utf8-from-name", f"From: রাম দাস <{b.sender()}>".encode()),
        ("cp1252-subject", b"Subject: Caf\xe9 \x93theft\x94"),
        ("latin1-from", f"From: Jos\xe9 <{b.sender()}>".encode("latin-1")),
        ("utf8-header-name", "X-চুরি: yes".encode()),
        ("raw-binary-header", b"X-Junk: " + bytes(range(128, 256))),
    ]
    for name, line in cases:
        sender = b.sender()
        raw = (f"From: {sender}\r\nTo: {STATION}\r\nMessage-ID: <h8-{b.count}@example.in>\r\n"
               ).encode() + line + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + \
            THEFT_HI.encode()
        b.add(f"8bit-header/{name}", raw, words="चोरी")


def missing_headers(b: _Builder) -> None:
    b.add("missing/from", b.text("Theft", THEFT_EN, sender=""), answered=False,
          words="bicycle", sender="")
    b.add("missing/date", b.text("Theft", THEFT_EN, date=False), words="bicycle")
    b.add("missing/message-id", b.text("Theft", THEFT_EN, message_id=False), words="bicycle")
    b.add("missing/all", b"Content-Type: text/plain\r\n\r\n" + THEFT_EN.encode(),
          answered=False, words="bicycle", sender="")
    b.add("missing/no-headers-at-all", THEFT_EN.encode(), answered=False, sender="")
    b.add("missing/garbage-from", b.text("Theft", THEFT_EN, sender="<<<@@@>>>"),
          answered=False, words="bicycle", sender="")
    b.add("missing/empty-message-id", b.text("Theft", THEFT_EN, extra="Message-ID: <>",
                                             message_id=False), words="bicycle")
    b.add("missing/subject", b.text("", THEFT_EN), words="bicycle")


def long_headers(b: _Builder) -> None:
    big = "x" * 100_000
    b.add("100k/subject", b.text("Theft " + "y" * 100_000, THEFT_EN), words="bicycle")
    b.add("100k/x-header", b.text("Theft", THEFT_EN, extra=f"X-Long: {big}"), words="bicycle")
    b.add("100k/folded", b.text("Theft", THEFT_EN, extra="X-Folded: " + "ab\r\n " * 30_000),
          words="bicycle")
    b.add("100k/to", b.text("Theft", THEFT_EN, extra="Cc: " + "a@b.in, " * 12_500),
          words="bicycle")
    b.add("100k/references", b.text("Theft", THEFT_EN, extra="References: " + " ".join(
        f"<r{i}@x.in>" for i in range(8000))), words="bicycle")
    b.add("100k/from-name", b.text("Theft", THEFT_EN, sender=f'"{big}" <{b.sender()}>'),
          words="bicycle")
    b.add("100k/message-id", b.text("Theft", THEFT_EN, message_id=False,
                                    extra=f"Message-ID: <{big}@x.in>"), words="bicycle")
    b.add("100k/unfolded-body-line", b.text("Theft", THEFT_EN + " " + "z" * 100_000),
          words="bicycle")


def line_ends(b: _Builder) -> None:
    def base() -> bytes:  # built anew for each, so that each has its own sender and id
        return b.text("Theft", f"{THEFT_EN}\r\nSecond line.\r\n")

    b.add("crlf/bare-lf", base().replace(b"\r\n", b"\n"), words="bicycle")
    b.add("crlf/bare-cr", base().replace(b"\r\n", b"\r"), words="bicycle")
    b.add("crlf/mixed", base().replace(b"\r\n", b"\n", 3), words="bicycle")
    b.add("crlf/cr-cr-lf", base().replace(b"\r\n", b"\r\r\n"), words="bicycle")
    b.add("crlf/lf-headers-crlf-body",
          b.head("Theft").replace("\r\n", "\n").encode() + b"\n" + THEFT_EN.encode() + b"\r\n",
          words="bicycle")
    b.add("crlf/lf-cr", base().replace(b"\r\n", b"\n\r"), words="bicycle")


def deep_nesting(b: _Builder) -> None:
    leaf = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{THEFT_BN}".encode()
    for levels in (50, 200, 800, 3000):
        opening = b"".join(b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--d%d\r\n'
                           % (i, i) for i in range(levels))
        closing = b"".join(b"\r\n--d%d--" % i for i in reversed(range(levels)))
        head = b.head(f"Nested {levels}").encode() + b"MIME-Version: 1.0\r\n"
        b.add(f"nesting/{levels}", head + opening + leaf + closing, words="চুরি")
    head = b.head("Nested, nothing inside").encode() + b"MIME-Version: 1.0\r\n"
    empty = b"".join(b'Content-Type: multipart/mixed; boundary="e%d"\r\n\r\n--e%d\r\n' % (i, i)
                     for i in range(3000))
    b.add("nesting/3000-empty", head + empty, frozenset({"unreadable"}), answered=False)
    inner = b.text("Forwarded", THEFT_HI)
    for _ in range(30):
        inner = (b"Content-Type: message/rfc822\r\n\r\n" + inner)
    b.add("nesting/forward-chain-30", b.head("Fwd").encode() + b"MIME-Version: 1.0\r\n" + inner,
          words="चोरी")


def missing_boundaries(b: _Builder) -> None:
    parts = [("Content-Type: text/plain; charset=utf-8", THEFT_HI),
             ("Content-Type: image/png\r\nContent-Transfer-Encoding: base64", "iVBORw0KGgo=")]

    def good() -> bytes:
        return b.multipart("Theft", parts)

    b.add("boundary/no-parameter", good().replace(b'; boundary="HOSTILE"', b""), words="चोरी")
    b.add("boundary/wrong-parameter", good().replace(b'boundary="HOSTILE"', b'boundary="OTHER"'))
    b.add("boundary/no-closing", good().replace(b"--HOSTILE--\r\n", b""), words="चोरी")
    b.add("boundary/unquoted-spaces", good().replace(b'boundary="HOSTILE"', b"boundary=HOS TILE"))
    b.add("boundary/empty", good().replace(b'boundary="HOSTILE"', b'boundary=""'))
    b.add("boundary/only-preamble", b.multipart("Theft", [])[:-len("--HOSTILE--\r\n")]
          + THEFT_EN.encode())
    b.add("boundary/200k-parts", b.head("Parts").encode() + b"MIME-Version: 1.0\r\n"
          b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
          + b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 20_000 + b"--p--\r\n")


def bad_base64(b: _Builder) -> None:
    good = base64.b64encode(THEFT_BN.encode()).decode()
    cases = [
        ("truncated", good[:-7]), ("junk", good[:20] + "!!**##" + good[20:]),
        ("no-padding", good.rstrip("=")), ("extra-padding", good + "===="),
        ("not-base64", "This is plain text, not base64 at all: " + THEFT_EN),
        ("8bit-under-base64", THEFT_HI), ("empty", ""), ("dangling-char", good + "A"),
    ]
    for name, body in cases:
        b.add(f"base64/{name}", b.text("Theft", body.encode(), cte="base64"))
    qp = b"chain =ZZ snatched =\r\n=E0=A6"
    b.add("base64/bad-qp", b.text("Theft", qp, cte="quoted-printable"), words="snatched")
    b.add("base64/unknown-cte", b.text("Theft", THEFT_EN, cte="x-uuencode"), words="bicycle")


def html_with_scripts(b: _Builder) -> None:
    pages = [
        ("script", f"<script>alert(document.cookie)</script><p>{THEFT_EN}</p>"),
        ("onerror", f'<img src=x onerror="alert(1)"><p>{THEFT_EN}</p>'),
        ("iframe", f'<iframe src="javascript:alert(1)"></iframe><div>{THEFT_EN}</div>'),
        ("style", f"<style>p{{display:none}}</style><p>{THEFT_EN}</p>"),
        ("unclosed", "<p>" * 5000 + THEFT_EN + "<script>" * 500),
        ("entities", "<p>&lt;script&gt;alert(1)&lt;/script&gt; " + THEFT_EN + "</p>"),
        ("svg", f'<svg onload="alert(1)"><text>{THEFT_EN}</text></svg>'),
        ("command-in-html", f"<p>#close done</p><p>{THEFT_EN}</p>"),
        ("xml-declaration", f'<?xml version="1.0"?><html><body>{THEFT_EN}</body></html>'),
        ("deep-divs", "<div>" * 3000 + THEFT_EN + "</div>" * 3000),
    ]
    for name, page in pages:
        b.add(f"html/{name}", b.text("Theft", page, "text/html; charset=utf-8"),
              words="bicycle")
    b.add("html/alternative-script", b.multipart("Theft", [
        ("Content-Type: text/plain; charset=utf-8", THEFT_EN),
        ("Content-Type: text/html", "<script>alert(1)</script>")], "multipart/alternative"),
        words="bicycle")


def tnef_and_calendar(b: _Builder) -> None:
    tnef = b"\x78\x9f\x3e\x22" + random.Random(1).randbytes(3000)
    b.add("tnef/with-text", b.multipart("Theft", [
        ("Content-Type: text/plain", THEFT_EN),
        ('Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
         "Content-Transfer-Encoding: base64", _b64(tnef))]), words="bicycle")
    b.add("tnef/only", b.multipart("Theft", [
        ('Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
         "Content-Transfer-Encoding: base64", _b64(tnef))]))
    ics = ("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Meeting at the "
           "station\r\nDTSTART:20261124T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    b.add("calendar/invite", b.multipart("Invitation: meeting", [
        ("Content-Type: text/plain", "You are invited to a meeting."),
        ("Content-Type: text/calendar; method=REQUEST; charset=utf-8", ics)],
        "multipart/alternative"), words="invited")
    b.add("calendar/only", b.text("Invitation", ics, "text/calendar; method=REQUEST"))
    b.add("calendar/ics-file", b.multipart("Invitation", [
        ("Content-Type: text/plain", THEFT_EN),
        ('Content-Type: application/ics; name="invite.ics"', ics)]), words="bicycle")


def bounces(b: _Builder) -> None:
    dsn = ("Reporting-MTA: dns; mx.example.in\r\n\r\nFinal-Recipient: rfc822; x@example.in\r\n"
           "Action: failed\r\nStatus: 5.1.1\r\n")
    b.add("bounce/dsn", b.multipart("Undelivered Mail Returned to Sender", [
        ("Content-Type: text/plain", "Your message could not be delivered."),
        ("Content-Type: message/delivery-status", dsn),
        ("Content-Type: message/rfc822", "Subject: returned\r\n\r\nreturned words")],
        "multipart/report; report-type=delivery-status",
        sender="MAILER-DAEMON@mx.example.in"), BOUNCE)
    b.add("bounce/exim-text", b.text("Mail delivery failed: returning message to sender",
                                     "This message was created automatically by mail delivery"
                                     " software.\r\n\r\n  x@example.in\r\n    No such user",
                                     extra="X-Failed-Recipients: x@example.in",
                                     sender="Mail Delivery System <Mailer-Daemon@mx.example.in>"),
          BOUNCE)
    b.add("bounce/null-return-path", b.text("Undeliverable", "Delivery has failed.",
                                            extra="Return-Path: <>", sender=""), BOUNCE)
    b.add("bounce/postmaster", b.text("Delivery Status Notification (Failure)",
                                      "Delivery to the following recipient failed permanently.",
                                      sender="postmaster@mx.example.in"), MACHINE)
    b.add("bounce/dsn-base64", b.multipart("Undelivered", [
        ("Content-Type: text/plain", "failed"),
        ("Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64",
         _b64(dsn.encode()))], "multipart/report; report-type=delivery-status",
        sender="mailer-daemon@mx.example.in"), BOUNCE)


def auto_replies(b: _Builder) -> None:
    bodies = {
        "en": ("Automatic reply: Complaint", "I am out of the office until Monday and will "
               "reply when I return."),
        "hi": ("स्वचालित उत्तर: शिकायत", "मैं कार्यालय से बाहर हूँ और सोमवार को वापस आऊँगा।"),
        "bn": ("স্বয়ংক্রিয় উত্তর: অভিযোগ", "আমি অফিসের বাইরে আছি, সোমবার ফিরে আসব।"),
    }
    rfc3834 = ["Auto-Submitted: auto-replied", "X-Autoreply: yes", "Precedence: auto_reply",
               "X-Auto-Response-Suppress: All\nAuto-Submitted: auto-generated"]
    for language, (subject, body) in bodies.items():
        for i, header in enumerate(rfc3834):
            b.add(f"autoreply/{language}-header-{i}", b.text(_word(subject), body, extra=header),
                  MACHINE)
        b.add(f"autoreply/{language}-subject-only", b.text(_word(subject), "."), MACHINE)
        b.add(f"autoreply/{language}-body-only", b.text("Re: Complaint", body), MACHINE)
        b.add(f"autoreply/{language}-null-sender", b.text("Re: Complaint", body,
                                                          extra="Return-Path: <>"), MACHINE)
    b.add("autoreply/list-mail", b.text("Newsletter", "Weekly news",
                                        extra="List-Id: <news.example.in>"),
          frozenset({"list"}), answered=False)
    b.add("autoreply/bulk", b.text("Offer", "Buy now", extra="Precedence: bulk"),
          frozenset({"list"}), answered=False)


def injection(b: _Builder) -> None:
    texts = ["{{ 7*7 }} {{ config }}", "{% for x in range(10**9) %}x{% endfor %}",
             "${jndi:ldap://evil/a}", "<%= system('id') %>", "#{7*7}",
             "'; DROP TABLE complaints; --", "Robert'); DELETE FROM messages WHERE ('1'='1",
             "1 OR 1=1; UPDATE complaints SET status='closed'",
             "{{ ''.__class__.__mro__[1].__subclasses__() }}", "%s%s%s%n%x"]
    for i, text in enumerate(texts):
        b.add(f"template-sql/subject-{i}", b.text(text, f"{THEFT_EN} {text}"), words=text)
        b.add(f"template-sql/name-{i}", b.text("Theft", THEFT_EN,
                                              sender=f"{_word(text)} <{b.sender()}>"),
              words="bicycle")
    smuggled = [f"Theft\r\nBcc: spy@{SMUGGLED}", f"Theft\nTo: spy@{SMUGGLED}",
                f"Theft\r\n\r\n<html>injected body from {SMUGGLED}",
                f"Theft\rCc: spy@{SMUGGLED}", f"চুরি\r\nReply-To: spy@{SMUGGLED}"]
    for i, subject in enumerate(smuggled):
        b.add(f"crlf-subject/b-{i}", b.text(_word(subject), THEFT_EN), words="bicycle")
        q = "=?utf-8?q?" + "".join(f"={c:02X}" for c in subject.encode()) + "?="
        b.add(f"crlf-subject/q-{i}", b.text(q, THEFT_EN), words="bicycle")
    name = _word(f"Ram\r\nBcc: spy@{SMUGGLED}")
    b.add("crlf-subject/display-name", b.text("Theft", THEFT_EN,
                                              sender=f"{name} <{b.sender()}>"), words="bicycle")


def attachment_names(b: _Builder) -> None:
    names = ["../../etc/passwd", "..\\..\\windows\\system32\\config", "/etc/shadow", "CON",
             "NUL", "AUX.txt", "com1", "file\x00name.pdf", "a\x00", "x" * 500 + ".pdf",
             "ক" * 500 + ".jpg", ".htaccess", "...", "name\r\nX-Evil: 1.png", "  ", "",
             "photo.jpg\u202egpj.exe", "<script>.png"]
    for i, name in enumerate(names):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        b.add(f"filename/plain-{i}", b.multipart("Theft", [
            ("Content-Type: text/plain", THEFT_EN),
            (f'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; '
             f'filename="{quoted}"', "data")]), words="bicycle")
    encoded = "utf-8''" + "".join(f"%{c:02X}" for c in b"../../etc/passwd\x00.jpg")
    b.add("filename/rfc2231-traversal", b.multipart("Theft", [
        ("Content-Type: text/plain", THEFT_EN),
        (f"Content-Type: image/jpeg\r\nContent-Disposition: attachment; filename*={encoded}",
         "x")]), words="bicycle")
    b.add("filename/encoded-word-slash", b.multipart("Theft", [
        ("Content-Type: text/plain", THEFT_EN),
        (f'Content-Type: image/jpeg; name="{_word("../../etc/passwd")}"', "x")]),
          words="bicycle")


def big_attachment(b: _Builder) -> None:
    blob = random.Random(25).randbytes(25 << 20)
    b.add("size/25mb-attachment", b.multipart("CCTV footage of the theft", [
        ("Content-Type: text/plain", THEFT_EN),
        ('Content-Type: video/mp4; name="cctv.mp4"\r\nContent-Transfer-Encoding: base64',
         _b64(blob))]), frozenset({"oversize"}), answered=True, words="bicycle")


def text_lost(b: _Builder) -> None:
    """Issue 11 item 5, as residents send it."""
    b.add("text-lost/forwarded", b.multipart("Fwd: threat", [
        ("Content-Type: text/plain", "My neighbour sent me this."),
        ("Content-Type: message/rfc822",
         "From: x@example.in\r\nSubject: threat\r\n\r\nPay or your shop burns tonight.")]),
        words="Pay or your shop burns tonight.")
    b.add("text-lost/inline-file", b.multipart("Theft", [
        ('Content-Type: text/plain; name="body.txt"\r\nContent-Disposition: inline; '
         'filename="body.txt"', THEFT_BN)]), words=THEFT_BN)
    b.add("text-lost/flowed-delsp", b.text("Theft", "My bicy \r\ncle was sto \r\nlen.",
                                           "text/plain; format=flowed; delsp=yes"),
          words="My bicycle was stolen.")


def random_bytes(b: _Builder) -> None:
    rng = random.Random(11)
    for i in range(6):
        b.add(f"bytes/random-{i}", rng.randbytes(rng.randint(1, 20_000)),
              frozenset({"new", "unreadable"}), answered=False, sender="")
    b.add("bytes/nul-body", b.text("Theft", THEFT_EN.encode() + b"\x00" * 100 + b"end"),
          words="bicycle")
    b.add("bytes/nul-in-headers", b.text("The\x00ft", THEFT_EN, extra="X-Nul: a\x00b"),
          words="bicycle")
    b.add("bytes/only-newlines", b"\r\n" * 1000, frozenset({"unreadable"}), answered=False,
          sender="")


FAMILIES = (lying_charsets, broken_encoded_words, eight_bit_headers, missing_headers,
            long_headers, line_ends, deep_nesting, missing_boundaries, bad_base64,
            html_with_scripts, tnef_and_calendar, bounces, auto_replies, injection,
            attachment_names, big_attachment, text_lost, random_bytes)


def hostile_mails(big: bool = True) -> list[Hostile]:
    """Every family's mails; `big=False` leaves out the 25 MB one."""
    builder = _Builder()
    for family in FAMILIES:
        if big or family is not big_attachment:
            family(builder)
    return builder.mails


def stdlib_mail_dir() -> Path | None:
    """test/test_email/data of this Python, if its test suite is installed."""
    path = Path(sysconfig.get_path("stdlib")) / "test" / "test_email" / "data"
    return path if path.is_dir() else None


def stdlib_mails() -> Iterator[Hostile]:
    """The messages of Python's email test suite. What is sensible is read from their
    headers: a delivery report is a bounce, bulk mail is list mail, anything else a
    complaint (answered when it has a sender, see test_hostile)."""
    folder = stdlib_mail_dir()
    for path in sorted(folder.glob("msg_*.txt")) if folder else ():
        raw = path.read_bytes()
        head = raw.split(b"\n\n", 1)[0].lower()
        if b"report-type=delivery-status" in head.replace(b'"', b""):
            kinds = BOUNCE
        elif b"\nprecedence: bulk" in head:
            kinds = frozenset({"list", "bounce", "autoreply"})  # machine mail, never answered
        else:
            kinds = COMPLAINT
        yield Hostile(f"stdlib/{path.name}", raw, kinds, answered=kinds == COMPLAINT)

