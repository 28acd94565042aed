"""Hostile and broken mail (issue 11): the resident's words are never lost to the way a mail
is built, and every mail of tests/hostile.py's generator goes through the real flow (Dovecot
in, the desk's poll, SMTP out): stored, sorted sensibly, answered or not as the SPEC says,
within a bounded time each."""

from __future__ import annotations

import base64
import email
import hashlib
import random
import time

import pytest
from deskenv import REPO, StationAccount, config_for, encoded_words, resident_mail
from hostile import SMUGGLED, Hostile, hostile_mails, stdlib_mail_dir, stdlib_mails
from needs import missing

from maildesk.desk import Desk
from maildesk.mail.parse import FORWARD_LINE, parse_mail
from maildesk.pipeline import take_mail
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
    command = parse_mail(b"Subject: x\r\nContent-Type: text/plain; format=flowed\r\n\r\n"
                         b"#close \r\nCase solved, thank \r\nyou.")
    assert command.text == "#close\nCase solved, thank you."  # a command keeps its own line
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


# --------------------------------------------------------------------------- the real flow

PER_MAIL_SECONDS = 20  # generous: a 34 MB mail takes a few seconds; a small one ~0.1 s
OFFICERS = {"si.mukherjee@maildesk.test", "si.ghosh@maildesk.test", "itcell@maildesk.test",
            "dcp.ne@maildesk.test"}
# Every header the desk itself writes; anything else in an outgoing mail came from input.
OWN_HEADERS = {"date", "from", "to", "cc", "reply-to", "subject", "message-id", "in-reply-to",
               "references", "auto-submitted", "x-auto-response-suppress", "mime-version",
               "content-type", "content-transfer-encoding", "content-disposition",
               "x-maildesk-station", "x-maildesk-complaint", "x-maildesk-digest",
               "x-maildesk-zone"}


def stdlib_or_skip() -> list[Hostile]:
    mails = list(stdlib_mails())
    if not mails:
        reason = (f"Python's email test suite is not installed (looked in {stdlib_mail_dir()}; "
                  "Debian: apt-get install libpython3-testsuite)")
        missing(reason)
    return mails


def test_the_generator_covers_every_kind():
    mails = hostile_mails(big=False)
    families = {m.family for m in mails}
    assert len(mails) + 1 >= 150  # and the 25 MB one
    assert {"charset", "encoded-word", "8bit-header", "missing", "100k", "crlf", "nesting",
            "boundary", "base64", "html", "tnef", "calendar", "bounce", "autoreply",
            "template-sql", "crlf-subject", "filename", "bytes", "text-lost"} <= families
    assert len({m.name for m in mails}) == len(mails)
    assert [m.raw for m in hostile_mails(big=False)] == [m.raw for m in mails]  # deterministic


GROUP = 20  # mails delivered together and taken in by one poll


def run_through_the_desk(conversation, mails: list[Hostile]) -> None:
    """Mails in groups: into Dovecot, one poll, then what the store and SMTP hold for each."""
    store = conversation.store()
    failures = []
    user = conversation.bhl.user
    timings = []
    for start in range(0, len(mails), GROUP):
        group = mails[start : start + GROUP]
        with conversation.dovecot.client(user) as imap:
            for mail in group:
                imap.append("INBOX", mail.raw)
        served = conversation.dovecot.fetch_all(user)  # as the server keeps them
        began = time.monotonic()
        conversation.poll()
        elapsed = time.monotonic() - began
        timings.append((elapsed / len(group), group[0].name))
        if elapsed > PER_MAIL_SECONDS * len(group):
            failures.append(f"{group[0].name}...: {len(group)} mails took {elapsed:.1f} s")
        failures += [f"{group[0].name}...: {p}" for p in injected(conversation.smtp.messages)]
        for mail, raw in zip(group, served, strict=True):
            problems = check_handled(conversation, store, mail, raw)
            if problems:
                failures.append(f"{mail.name}: {'; '.join(problems)}")
    assert conversation.dovecot.folder_uids(user) == []  # every mail left the INBOX
    handled = len(mails) - len({f.split(":", 1)[0] for f in failures})
    print(f"\nhostile mails through Dovecot, poll and SMTP: {handled}/{len(mails)} handled; "
          f"slowest group {max(timings)[1]}: {max(timings)[0]:.2f} s a mail")
    print("\n".join(f[:300] for f in failures))
    assert failures == []


def check_handled(conversation, store, mail: Hostile, served: bytes) -> list[str]:
    problems = []
    limit = conversation.config.max_mail_bytes
    if len(served) > limit:
        # Over the size limit intake fetches (and stores) only the mail's first bytes.
        served = served[:limit]
    sha = hashlib.sha256(served).hexdigest()
    rows = store.query("SELECT id, kind, text, from_addr FROM messages WHERE sha256 = ?", (sha,))
    if not store.blob_path(sha).exists() or store.read_raw(sha) != served:
        return ["raw bytes not stored"]
    if not rows:
        # Python's suite has mails that share a Message-ID: the same mail, not a second one.
        earlier = parse_mail(served).message_id
        known = earlier and store.query("SELECT id FROM messages WHERE message_id = ?", (earlier,))
        return [] if known else ["no record"]
    if len(rows) != 1:
        return [f"recorded {len(rows)} times"]
    [row] = rows
    if row["kind"] not in mail.kinds:
        problems.append(f"sorted as {row['kind']}, want {sorted(mail.kinds)}")
    if mail.words and mail.words not in (row["text"] or ""):
        problems.append(f"text lost: {mail.words[:40]!r} not in {(row['text'] or '')[:80]!r}")
    sent = conversation.smtp.messages
    rcpts = {r.lower() for m in sent for r in m.rcpt_tos}
    sender = mail.sender or (row["from_addr"] if mail.family == "stdlib" else "")
    if mail.answered and sender and sender not in rcpts:
        problems.append(f"not answered (sent to {sorted(rcpts)})")
    if (not mail.answered and not mail.family.startswith("mutated")
            and row["from_addr"] and row["from_addr"] in rcpts - OFFICERS):
        problems.append(f"answered though it must not be: {row['from_addr']}")
    return problems


def injected(messages: list) -> list[str]:
    """Recipients or headers in outgoing mail that came from the input."""
    problems = []
    for message in messages:
        if any(SMUGGLED in r for r in message.rcpt_tos):
            problems.append(f"an injected recipient was mailed: {message.rcpt_tos}")
        head = email.message_from_bytes(message.data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        strangers = {k.lower() for k in head.keys()} - OWN_HEADERS
        if strangers:
            problems.append(f"outgoing headers from input: {sorted(strangers)}")
    return problems


@pytest.mark.timeout(300)
def test_every_hostile_mail_is_stored_sorted_and_answered_as_the_spec_says(conversation):
    run_through_the_desk(conversation, hostile_mails() + stdlib_or_skip())


def test_each_mail_as_sent_is_taken_in_within_a_bounded_time(tmp_path):
    # Dovecot turns NUL bytes and bare CR/LF into something else; here the very bytes go
    # through the stages (parse, dedupe, sort, classify, record), one by one, and are timed.
    config = config_for(tmp_path, ("127.0.0.1", 9), ("127.0.0.1", 9),
                        [StationAccount("BHL", "u", "p", ("si.mukherjee@maildesk.test",))])
    desk = Desk.open(config)
    try:
        timings = []
        for mail in hostile_mails() + list(stdlib_mails()):
            start = time.monotonic()
            with desk.store.transaction():
                result = take_mail(desk, "BHL", mail.raw)
            timings.append((time.monotonic() - start, mail.name))
            assert result.kind != "shunted", mail.name  # no stage raised
            assert result.duplicate or mail.family == "stdlib" or result.kind in mail.kinds, (
                mail.name, result.kind)
        slowest = max(timings)
        print(f"\nslowest mail through the stages: {slowest[1]} {slowest[0]:.2f} s")
        assert slowest[0] < PER_MAIL_SECONDS, slowest
    finally:
        desk.close()


def mutated(mails: list[Hostile], rounds: int) -> list[Hostile]:
    """Each small mail with bytes flipped and cut: what the generator did not think of."""
    rng = random.Random(3676)
    out = []
    for n in range(rounds):
        for mail in mails:
            if len(mail.raw) > 200_000:
                continue
            data = bytearray(mail.raw)
            for _ in range(rng.randint(1, 30)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = data[: rng.randint(len(data) // 2, len(data))]
            out.append(Hostile(f"mutated-{n}/{mail.name}", bytes(data),
                               frozenset({"new", "unreadable", "autoreply", "bounce", "list",
                                          "oversize", "followup", "status"}), answered=False))
    return out


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mutated_hostile_mails_through_the_real_flow(conversation):
    # Any kind is sensible for a mangled mail; stored once, in bounded time, no injection.
    mails = hostile_mails(big=False) + stdlib_or_skip()
    run_through_the_desk(conversation, mutated(mails, 4))
