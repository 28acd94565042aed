"""Tests for maildesk.mail.message: templates in every language and the message builder."""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import jinja2
import pytest

from maildesk.mail.message import build_message, make_message_id, sanitize_header_text
from maildesk.mail.templates import SUBJECT_VALUE_MAX_CHARS, Templates, default_templates_dir
from maildesk.officer.commands import CANONICAL

LANGS = ("en", "hi", "bn", "mr")
# Templates every language must have in its own words; the officer-facing ones are English.
RESIDENT_TEMPLATES = ("ack", "status", "status_unknown", "oversize")
OFFICER_TEMPLATES = ("notify", "followup_notify")
CODE = "BHL-2611-0007"
URGENCIES = ("urgent", "semi_urgent", "non_urgent")
STATUSES = ("received", "acknowledged", "in_process", "incomplete_info", "transferred", "closed")

LONG_SUBJECTS = {
    "bn": "Re: আমাদের পাড়ায় গত তিন দিন ধরে রাতে জোরে মাইক বাজানো হচ্ছে, বয়স্ক মানুষ ও "
    "ছাত্রছাত্রীদের খুব অসুবিধা হচ্ছে, দয়া করে ব্যবস্থা নিন [BHL-2611-0007]",
    "hi": "Re: हमारे मोहल्ले में पिछले तीन दिनों से रात को तेज़ आवाज़ में लाउडस्पीकर बजाया जा रहा "
    "है, बुज़ुर्गों और विद्यार्थियों को बहुत परेशानी हो रही है, कृपया कार्रवाई करें [BHL-2611-0007]",
    "mr": "Re: आमच्या परिसरात गेल्या तीन दिवसांपासून रात्री मोठ्या आवाजात लाऊडस्पीकर वाजवला जात "
    "आहे, ज्येष्ठ नागरिक आणि विद्यार्थ्यांना खूप त्रास होत आहे, कृपया कारवाई करा [BHL-2611-0007]",
}


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(default_templates_dir())


def ack_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "code": CODE,
        "station_name": "Bhelupur Police Station",
        "urgency": "semi_urgent",
        "subject": "Loudspeaker every night near the temple",
        "next_step_by": "23 Nov 2026, 14:30 IST",
        "station_address": "sho.bhelupur@police.example.in",
    }
    ctx.update(overrides)
    return ctx


def notify_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "code": CODE,
        "urgency": "urgent",
        "reasons": ["mentions a threat to life", "third complaint this week"],
        "resident_name": "অনিতা দাস",
        "resident_addr": "anita.das@example.in",
        "subject": LONG_SUBJECTS["bn"],
        "text": "My neighbour threatened my son.\n\nPlease send someone.\n#close this",
        "attachments": [
            {"name": "photo1.jpg", "content_type": "image/jpeg", "size": 2_345_678},
            {"name": "ছবি.png", "content_type": "image/png", "size": 12_000},
        ],
        "station_name": "Bhelupur Police Station",
        "received_at": "23 Nov 2026, 10:02 IST",
        "history": [
            {"at": "23 Nov 10:02", "actor": "maildesk", "action": "received", "detail": ""},
            {"at": "23 Nov 10:20", "actor": "SI Verma", "action": "note", "detail": "called"},
        ],
    }
    ctx.update(overrides)
    return ctx


def context_for(name: str) -> dict[str, Any]:
    if name == "ack":
        return ack_context()
    if name == "notify":
        return notify_context()
    if name == "followup_notify":
        return {
            "code": CODE,
            "urgency": "non_urgent",
            "text": "Here is the photo of the car number plate.",
            "attachments": [{"name": "car.jpg", "content_type": "image/jpeg", "size": 900_000}],
            "from_filer": True, "sender": "rina.das@gmail.com",
            "resident_addr": "rina.das@gmail.com",
            "history": [{"at": "23 Nov 2026, 10:00 IST", "actor": "rina.das@gmail.com",
                         "action": "received", "detail": ""}],
        }
    if name == "status":
        return {
            "code": CODE,
            "status": "in_process",
            "updated_at": "24 Nov 2026, 09:15 IST",
            "history": [
                {"at": "23 Nov 2026, 10:02 IST", "what": "Complaint received"},
                {"at": "23 Nov 2026, 11:40 IST", "what": "Beat officer visited the area"},
            ],
        }
    if name == "status_unknown":
        return {"code": CODE}
    if name == "oversize":
        return {"size_mb": 41.37, "limit_mb": 25, "code": CODE}
    raise AssertionError(name)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parse_compat(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def build(**overrides: Any) -> bytes:
    kwargs: dict[str, Any] = {
        "from_addr": "sho.bhelupur@police.example.in",
        "from_name": "Bhelupur Police Station",
        "to_addrs": ["anita.das@example.in"],
        "subject": f"Re: Noise [{CODE}]",
        "body": "Hello\n",
        "message_id": f"ack.{CODE}@police.example.in",
    }
    kwargs.update(overrides)
    return build_message(**kwargs)


def assert_wire_safe(raw: bytes, max_header_line: int = 78) -> None:
    """Headers are 7-bit, folded, CRLF-only; no line anywhere exceeds 998 bytes."""
    head = header_block(raw)
    head.decode("ascii")
    assert b"\n" not in head.replace(b"\r\n", b"")
    assert b"\r" not in head.replace(b"\r\n", b"")
    for line in head.split(b"\r\n"):
        assert len(line) <= max_header_line, line
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    # The parser keeps the wire's CRLF line ends in decoded text.
    return content.replace("\r\n", "\n")


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


def test_default_templates_dir_finds_the_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILDESK_TEMPLATES", raising=False)
    path = default_templates_dir()
    assert path.name == "templates"
    assert (path / "en" / "ack.txt").is_file()


def test_default_templates_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("MAILDESK_TEMPLATES", str(tmp_path))
    assert default_templates_dir() == tmp_path


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Templates(tmp_path / "nope")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", RESIDENT_TEMPLATES)
def test_resident_templates_exist_in_every_language(templates: Templates, name, lang) -> None:
    assert templates.has(name, lang)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", RESIDENT_TEMPLATES + OFFICER_TEMPLATES)
def test_every_template_renders(templates: Templates, name: str, lang: str) -> None:
    subject, body = templates.render(name, lang, **context_for(name))
    assert subject and "\n" not in subject and "\r" not in subject
    assert subject == subject.strip()
    assert body.strip()
    # The template's own "Subject:" line must not leak into the body.
    assert not body.startswith("Subject:")
    assert "None" not in body
    if name != "status_unknown":
        assert f"[{CODE}]" in subject
    assert CODE in body or name == "status_unknown"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("urgency", URGENCIES)
@pytest.mark.parametrize("resident_subject", ["Loud music at night", ""])
def test_ack_content(templates: Templates, lang: str, urgency: str, resident_subject: str):
    ctx = ack_context(urgency=urgency, subject=resident_subject)
    subject, body = templates.render("ack", lang, **ctx)
    assert f"[{CODE}]" in subject
    assert subject.endswith(f"[{CODE}]")
    if resident_subject:
        assert subject == f"Re: {resident_subject} [{CODE}]"
    else:
        assert not subject.startswith("Re:")
        assert len(subject) > len(f"[{CODE}]") + 5  # a localized "your complaint" phrase
    assert CODE in body
    assert "112" in body
    assert ctx["next_step_by"] in body
    assert ctx["station_address"] in body
    assert f"STATUS {CODE}" in body
    assert ctx["station_name"] in body
    # Short enough for a phone screen.
    assert len(body) < 1500


@pytest.mark.parametrize("lang", LANGS)
def test_ack_says_urgency_in_own_words(templates: Templates, lang: str) -> None:
    bodies = {u: templates.render("ack", lang, **ack_context(urgency=u))[1] for u in URGENCIES}
    assert len(set(bodies.values())) == 3
    for body in bodies.values():
        for raw_value in ("semi_urgent", "non_urgent"):
            assert raw_value not in body


def test_ack_empty_subject_phrases(templates: Templates) -> None:
    expected = {
        "en": "Your complaint",
        "hi": "आपकी शिकायत",
        "bn": "আপনার অভিযোগ",
        "mr": "आपली तक्रार",
    }
    for lang, phrase in expected.items():
        subject, _ = templates.render("ack", lang, **ack_context(subject=""))
        assert subject.startswith(phrase), subject


def test_ack_subject_does_not_stack_reply_prefixes(templates: Templates) -> None:
    subject, _ = templates.render("ack", "en", **ack_context(subject="RE: Re: Aw: theft"))
    assert subject == f"Re: theft [{CODE}]"


def test_unknown_urgency_fails_loudly(templates: Templates) -> None:
    with pytest.raises(jinja2.UndefinedError):
        templates.render("ack", "en", **ack_context(urgency="whatever"))


def test_missing_context_fails_loudly(templates: Templates) -> None:
    ctx = ack_context()
    del ctx["next_step_by"]
    with pytest.raises(jinja2.UndefinedError):
        templates.render("ack", "hi", **ctx)


@pytest.mark.parametrize("lang", ["hi", "bn", "mr", "fr", "hi-IN", "BN_in", "", "../en", "x/y"])
def test_officer_templates_fall_back_to_english(templates: Templates, lang: str) -> None:
    for name in OFFICER_TEMPLATES:
        assert templates.render(name, lang, **context_for(name)) == templates.render(
            name, "en", **context_for(name)
        )


def test_has_reports_own_language_only(templates: Templates) -> None:
    assert templates.has("notify", "en")
    assert not templates.has("notify", "bn")
    assert templates.has("ack", "bn-IN")
    assert not templates.has("no_such_template", "en")


def test_language_variants_resolve(templates: Templates) -> None:
    assert templates.render("ack", "bn-IN", **ack_context()) == templates.render(
        "ack", "bn", **ack_context()
    )
    # A language without templates gets English.
    assert templates.render("ack", "ta", **ack_context()) == templates.render(
        "ack", "en", **ack_context()
    )


def test_unknown_template_raises(templates: Templates) -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        templates.render("no_such_template", "en")
    with pytest.raises(ValueError):
        templates.render("../en/ack", "en")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("status", STATUSES)
def test_status_in_plain_words(templates: Templates, lang: str, status: str) -> None:
    ctx = context_for("status") | {"status": status}
    subject, body = templates.render("status", lang, **ctx)
    assert f"[{CODE}]" in subject
    if "_" in status:
        assert status not in body  # the internal key is never shown
    assert ctx["updated_at"] in body
    for item in ctx["history"]:
        assert item["what"] in body


@pytest.mark.parametrize("lang", LANGS)
def test_status_words_differ(templates: Templates, lang: str) -> None:
    bodies = {
        templates.render("status", lang, **(context_for("status") | {"status": s}))[1]
        for s in STATUSES
    }
    assert len(bodies) == len(STATUSES)


def test_status_history_is_short(templates: Templates) -> None:
    history = [{"at": f"day {i}", "what": f"step number {i}"} for i in range(30)]
    ctx = context_for("status") | {"history": history}
    _, body = templates.render("status", "en", **ctx)
    assert "step number 29" in body
    assert "step number 5\n" not in body


def test_status_without_history(templates: Templates) -> None:
    ctx = context_for("status") | {"history": []}
    for lang in LANGS:
        _, body = templates.render("status", lang, **ctx)
        assert CODE in body


@pytest.mark.parametrize("lang", LANGS)
def test_status_unknown_reveals_nothing(templates: Templates, lang: str) -> None:
    # Same answer for a real code, an unknown code, no code and free text; nothing is echoed
    # (no confirmation that a code exists, no reflection of text to a forged sender).
    spam = "Cheap pills at http://evil.example"
    outputs = {
        templates.render("status_unknown", lang, **ctx)
        for ctx in (
            {"code": CODE},
            {"code": "XYZ-0000-9999"},
            {"code": ""},
            {"code": None},
            {"code": spam},
            {},
        )
    }
    assert len(outputs) == 1
    subject, body = outputs.pop()
    assert "112" in body
    assert CODE not in subject + body and "evil" not in subject + body


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("code", [CODE, None])
def test_oversize(templates: Templates, lang: str, code: str | None) -> None:
    subject, body = templates.render("oversize", lang, size_mb=41.37, limit_mb=25, code=code)
    assert "41.4" in body
    assert "25" in body
    assert "None" not in subject and "None" not in body
    if code:
        assert f"[{code}]" in subject and code in body
    else:
        assert "[" not in subject


def test_notify_content(templates: Templates) -> None:
    ctx = notify_context()
    subject, body = templates.render("notify", "bn", **ctx)
    assert subject == f"[URGENT] [{CODE}] {ctx['subject']}"
    for reason in ctx["reasons"]:
        assert reason in body
    assert "anita.das@example.in" in body and "অনিতা দাস" in body
    assert "photo1.jpg" in body and "ছবি.png" in body and "image/jpeg" in body
    assert "SI Verma" in body and "called" in body
    assert "My neighbour threatened my son." in body
    for command in (f"#{name}" for name in CANONICAL):
        assert command in body
    assert "top of your reply" in body
    # Nothing in the mail starts a line with "#": neither the resident's text (which could
    # otherwise smuggle "#close" into an officer's unquoted reply) nor the reference list.
    assert not any(line.startswith("#") for line in body.splitlines())


@pytest.mark.parametrize(
    ("urgency", "tag"),
    [("urgent", "[URGENT]"), ("semi_urgent", "[SEMI-URGENT]"), ("non_urgent", "[NON-URGENT]")],
)
def test_notify_subject_tags(templates: Templates, urgency: str, tag: str) -> None:
    subject, _ = templates.render("notify", "en", **notify_context(urgency=urgency))
    assert subject.startswith(f"{tag} [{CODE}] ")
    subject, _ = templates.render(
        "followup_notify", "en", **(context_for("followup_notify") | {"urgency": urgency})
    )
    assert subject.startswith(f"{tag} [{CODE}]")


def test_notify_minimal_context(templates: Templates) -> None:
    ctx = notify_context(
        resident_name="", subject="", text="", attachments=[], history=[], reasons=[]
    )
    subject, body = templates.render("notify", "en", **ctx)
    assert subject == f"[URGENT] [{CODE}] (no subject)"
    assert "anita.das@example.in" in body
    assert "History" not in body


def test_followup_notify_content(templates: Templates) -> None:
    ctx = context_for("followup_notify")
    subject, body = templates.render("followup_notify", "mr", **ctx)
    assert f"[{CODE}]" in subject
    assert ctx["text"] in body and "car.jpg" in body
    assert not any(line.startswith("#") for line in body.splitlines())


# --- injection -------------------------------------------------------------------------------


def test_subject_newline_injection_is_flattened(templates: Templates) -> None:
    evil = "hi\r\nBcc: evil@x"
    for lang in LANGS:
        subject, body = templates.render("ack", lang, **ack_context(subject=evil))
        assert "\r" not in subject and "\n" not in subject
        assert subject == f"Re: hi Bcc: evil@x [{CODE}]"
        # The body did not receive the tail of the subject.
        assert "evil" not in body
    subject, _ = templates.render("notify", "en", **notify_context(subject=evil))
    assert subject == f"[URGENT] [{CODE}] hi Bcc: evil@x"


def test_injected_subject_does_not_become_a_header(templates: Templates) -> None:
    subject, body = templates.render("ack", "en", **ack_context(subject="hi\r\nBcc: evil@x"))
    for subj in (subject, "hi\r\nBcc: evil@x", "hi\nBcc: evil@x\n\nbody", "x\rBcc: y"):
        raw = build(subject=subj, body=body)
        msg = parse(raw)
        assert msg["bcc"] is None
        assert len(msg.get_all("subject")) == 1
        assert b"\r\nBcc:" not in header_block(raw)
        assert_wire_safe(raw)


def test_control_characters_removed_from_subject(templates: Templates) -> None:
    nasty = "a\x00b\x1b[31mc\x7fd\x85e\u2028f\u2029g\tz\ud800"
    subject, _ = templates.render("ack", "en", **ack_context(subject=nasty))
    assert subject == f"Re: ab[31mcd e f g z\ufffd [{CODE}]"
    assert sanitize_header_text(nasty) == "ab[31mcd e f g z\ufffd"


def test_indic_joiners_survive_sanitising() -> None:
    # ZWJ/ZWNJ are format characters, not controls: removing them would misspell words.
    text = "क्\u200dष র\u200cয"
    assert sanitize_header_text(text) == text


@pytest.mark.parametrize("lang", LANGS)
def test_jinja_syntax_in_values_is_literal(templates: Templates, lang: str) -> None:
    payload = "{{ 7*7 }} {% if true %}X{% endif %} {# c #} {{ code }}"
    subject, body = templates.render(
        "ack", lang, **ack_context(subject=payload, station_name=payload)
    )
    assert payload in subject
    assert payload in body
    assert "49" not in subject and "49" not in body
    _, body = templates.render("notify", lang, **notify_context(text=payload))
    assert "{{ 7*7 }}" in body and "49" not in body


def test_subject_values_are_capped(templates: Templates) -> None:
    long_subject = "ক" * 5000
    subject, _ = templates.render("ack", "bn", **ack_context(subject=long_subject))
    assert subject.endswith(f"… [{CODE}]")
    assert len(subject) < SUBJECT_VALUE_MAX_CHARS + 30
    # The body is not capped.
    _, body = templates.render("notify", "en", **notify_context(subject=long_subject))
    assert long_subject in body


# --- template loading ------------------------------------------------------------------------


def test_template_format_is_enforced(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "nosubject.txt").write_text("Hello\n\nbody\n", encoding="utf-8")
    (tmp_path / "en" / "noblank.txt").write_text("Subject: x\nbody\n", encoding="utf-8")
    t = Templates(tmp_path)
    with pytest.raises(jinja2.TemplateSyntaxError):
        t.render("nosubject", "en")
    with pytest.raises(jinja2.TemplateSyntaxError):
        t.render("noblank", "en")


def test_template_errors_report_file_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "broken.txt").write_text(
        "Subject: ok\n\nline 3\n{% if %}\n", encoding="utf-8"
    )
    with pytest.raises(jinja2.TemplateSyntaxError) as info:
        Templates(tmp_path).render("broken", "en")
    assert info.value.lineno == 4


def test_body_starts_right_after_blank_line(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "t.txt").write_text("Subject: S {{ a }}\n\nB {{ a }}\n", encoding="utf-8")
    assert Templates(tmp_path).render("t", "en", a=1) == ("S 1", "B 1\n")


# ---------------------------------------------------------------------------------------------
# build_message
# ---------------------------------------------------------------------------------------------


def test_build_message_headers_round_trip() -> None:
    when = datetime(2026, 11, 23, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    raw = build(
        from_name="ভেলুপুর থানা",
        to_addrs=["anita.das@example.in", "Ravi Kumar <ravi@example.in>"],
        in_reply_to="CAB123.456@mail.gmail.com",
        references=["root.1@example.in", "CAB123.456@mail.gmail.com"],
        reply_to="desk@police.example.in",
        extra_headers={"X-Maildesk-Code": CODE, "X-Maildesk-Kind": "ack"},
        date=when,
        body="नमस्कार\nआपकी शिकायत दर्ज हो गई है।\n",
    )
    assert_wire_safe(raw)
    msg = parse(raw)
    assert msg["from"].addresses[0].display_name == "ভেলুপুর থানা"
    assert msg["from"].addresses[0].addr_spec == "sho.bhelupur@police.example.in"
    assert [a.addr_spec for a in msg["to"].addresses] == ["anita.das@example.in", "ravi@example.in"]
    assert msg["to"].addresses[1].display_name == "Ravi Kumar"
    assert msg["reply-to"].addresses[0].addr_spec == "desk@police.example.in"
    assert msg["subject"] == f"Re: Noise [{CODE}]"
    assert msg["message-id"] == f"<ack.{CODE}@police.example.in>"
    assert msg["in-reply-to"] == "<CAB123.456@mail.gmail.com>"
    assert msg["references"] == "<root.1@example.in> <CAB123.456@mail.gmail.com>"
    assert msg["auto-submitted"] == "auto-replied"
    assert msg["x-auto-response-suppress"] == "All"
    assert msg["precedence"] is None
    assert msg["mime-version"] == "1.0"
    assert msg["x-maildesk-code"] == CODE
    assert msg["x-maildesk-kind"] == "ack"
    assert msg["date"].datetime == when
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert body_text(msg) == "नमस्कार\nआपकी शिकायत दर्ज हो गई है।\n"
    # The raw header lines carry the brackets exactly once.
    head = header_block(raw).decode("ascii")
    assert "\r\nIn-Reply-To: <CAB123.456@mail.gmail.com>\r\n" in head
    assert "\r\nMessage-ID: <ack.BHL-2611-0007@police.example.in>\r\n" in head
    # Also the legacy parser sees the same values.
    compat = parse_compat(raw)
    assert compat["In-Reply-To"] == "<CAB123.456@mail.gmail.com>"
    name, addr = email.utils.parseaddr(compat["From"])
    assert str(make_header(decode_header(name))) == "ভেলুপুর থানা"


def test_build_message_defaults() -> None:
    raw = build()
    msg = parse(raw)
    assert msg["auto-submitted"] == "auto-replied"
    assert msg["x-auto-response-suppress"] == "All"
    assert msg["in-reply-to"] is None and msg["references"] is None
    assert msg["precedence"] is None
    sent = msg["date"].datetime
    assert sent.tzinfo is not None
    assert abs(datetime.now(UTC) - sent) < timedelta(minutes=1)
    assert raw.endswith(b"\r\n")


def test_auto_submitted_can_be_omitted_or_changed() -> None:
    assert parse(build(auto_submitted=None))["auto-submitted"] is None
    assert parse(build(auto_submitted="auto-generated"))["auto-submitted"] == "auto-generated"
    # X-Auto-Response-Suppress is always there.
    assert parse(build(auto_submitted=None))["x-auto-response-suppress"] == "All"


def test_naive_date_is_utc() -> None:
    msg = parse(build(date=datetime(2026, 1, 2, 3, 4, 5)))
    assert msg["date"].datetime == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_message_ids_tolerate_brackets_and_drop_junk() -> None:
    raw = build(
        message_id="<x.1@desk.example>",
        in_reply_to="<a b@c>\r\n",
        references=["<r1@x>", "", "bad\r\nBcc: evil@x", "r2@x"],
    )
    msg = parse(raw)
    assert msg["message-id"] == "<x.1@desk.example>"
    assert msg["in-reply-to"] == "<ab@c>"
    assert msg["references"] == "<r1@x> <badBcc:evil@x> <r2@x>"
    assert msg["bcc"] is None
    assert_wire_safe(raw)


def test_many_references_are_trimmed_and_folded() -> None:
    refs = [f"msg{i:04d}.{'x' * 40}@example.in" for i in range(500)]
    raw = build(references=refs)
    assert_wire_safe(raw)
    got = parse(raw)["references"].split()
    assert got[0] == f"<{refs[0]}>" and got[-1] == f"<{refs[-1]}>"
    assert len(got) == 20


@pytest.mark.parametrize("bad", ["", "no-at-sign", "a b@c", "a@b\r\nBcc: x", "ক@example.in"])
def test_bad_own_message_id_raises(bad: str) -> None:
    with pytest.raises(ValueError):
        build(message_id=bad)


def test_make_message_id() -> None:
    assert make_message_id(CODE, "police.example.in") == f"{CODE}@police.example.in"
    assert make_message_id("ack BHL/2611<0007>\r\n", "Police.Example.IN") == (
        "ack-BHL-2611-0007@police.example.in"
    )
    idna = "थाना.example".encode("idna").decode("ascii")
    assert idna.startswith("xn--")
    assert make_message_id("a..b", "थाना.example") == f"a.b@{idna}"
    with pytest.raises(ValueError):
        make_message_id("<>", "example.in")
    with pytest.raises(ValueError):
        make_message_id("x", "bad domain\r\nBcc: y")


def test_extra_headers_are_sanitised() -> None:
    raw = build(extra_headers={"X-Note": "one\r\nBcc: evil@x", "X-Bn": "থানা"})
    msg = parse(raw)
    assert msg["x-note"] == "one Bcc: evil@x"
    assert msg["x-bn"] == "থানা"
    assert msg["bcc"] is None
    assert_wire_safe(raw)
    for name in ("X-A\r\nBcc", "X A", "X:A", "", "Subject", "bcc", "Content-Type", "X-é"):
        with pytest.raises(ValueError):
            build(extra_headers={name: "v"})


def test_addresses() -> None:
    raw = build(
        from_name='Insp. "Ravi", SHO',
        to_addrs="অনিতা দাস <anita@থানা.example>",
    )
    msg = parse(raw)
    assert msg["from"].addresses[0].display_name == 'Insp. "Ravi", SHO'
    assert msg["to"].addresses[0].display_name == "অনিতা দাস"
    assert msg["to"].addresses[0].addr_spec == "anita@" + "থানা.example".encode("idna").decode()
    # An internationalised local part is written in UTF-8 (RFC 6532; sent with SMTPUTF8).
    assert "ক@example.in".encode() in build(to_addrs="ক@example.in")
    for bad in (["ক ক@example.in"], ["not an address"], [], ["a@b\r\nBcc: c@d"]):
        with pytest.raises(ValueError):
            build(to_addrs=bad)


def test_display_name_injection_stays_in_the_name() -> None:
    raw = build(from_name="Desk\r\nBcc: evil@x", to_addrs=["Evil\r\nBcc: x <a@example.in>"])
    msg = parse(raw)
    assert msg["bcc"] is None
    assert msg["from"].addresses[0].display_name == "Desk Bcc: evil@x"
    assert_wire_safe(raw)


# --- the folding trap ------------------------------------------------------------------------

ROUND_TRIP_SUBJECTS = [
    *LONG_SUBJECTS.values(),
    # Fails with CPython 3.11's own folding: the space before "में" is lost.
    "Fwd: हमारे मोहल्ले में [BHL-2611-0007]",
    "আমাদের পাড়ায় গত তিন দিন ধরে রাতে জোরে মাইক বাজানো হচ্ছে, বয়স্ক [BHL-2611-0007]",
    "(urgent) বয়স্ক মানুষ দিন",
    "Re: Complaint about noise আমাদের পাড়ায় loudspeaker मोहल्ले में  double  space [X-1]",
    "ছাত্রছাত্রীদের  জোরে हमारे",
    'Re: ঠিকানা: 12/3 "রবীন্দ্র সরণি", কলকাতা =?utf-8?q?not-an-encoded-word?= (ASAP)',
    "Re: " + "ক্ষ ত্র জ্ঞ শ্রী " * 12 + "[BHL-2611-0007]",
    "क्\u200dष and র\u200c্যাব with joiners, emoji 🚨🚓 and mixed text",
    "ক" * 300,
    ("মাইক বাজানো " * 25)[:300],
    ("x" * 299) + "ক",
    "A plain ASCII subject that is long enough to need folding because it goes on and on "
    "and on about the loudspeaker in the lane behind the temple [BHL-2611-0007]",
    "ASCII with  double  spaces and trailing words " * 5,
    "y" * 300,
    "",
]


@pytest.mark.parametrize("subject", ROUND_TRIP_SUBJECTS)
def test_subject_round_trips_exactly(subject: str) -> None:
    raw = build(subject=subject, from_name="ভেলুপুর থানা")
    # One unbreakable 300-character ASCII word cannot be folded; everything else fits in 78.
    assert_wire_safe(raw, max_header_line=998 if "y" * 300 in subject else 78)
    expected = subject.strip()
    assert parse(raw)["subject"] == expected
    # compat32 hands out the raw folded value; unfold it (RFC 5322 2.2.3) and decode.
    compat = parse_compat(raw)["Subject"]
    assert str(make_header(decode_header(unfold(compat)))) == expected
    if "=?" in compat:
        # Between encoded-words the fold is insignificant even without unfolding.
        assert str(make_header(decode_header(compat))) == expected


def test_subject_folding_uses_short_encoded_words() -> None:
    raw = build(subject=LONG_SUBJECTS["bn"])
    lines = [line for line in header_block(raw).split(b"\r\n")]
    start = next(i for i, line in enumerate(lines) if line.startswith(b"Subject:"))
    subject_lines = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(b" "):
            break
        subject_lines.append(line)
    assert len(subject_lines) > 1
    for line in subject_lines:
        assert len(line) <= 76
        for word in line.split():
            if word.startswith(b"=?"):
                assert len(word) <= 75


@pytest.mark.parametrize(
    "name",
    [
        "ভেলুপুর থানা",
        "ভেলুপুর থানা, বারাণসী পুলিশ কমিশনারেট অভিযোগ ডেস্ক",
        "भेलूपुर थाना, वाराणसी पुलिस कमिश्नरेट शिकायत डेस्क",
        "भेलूपूर पोलीस ठाणे, तक्रार कक्ष",
        "Plain Name",
        "=?utf-8?q?looks-encoded?=",
    ],
)
def test_display_name_round_trips(name: str) -> None:
    # A name with a comma must be quoted in "Name <addr>" form, as in any address header.
    raw = build(from_name=name, to_addrs=[f'"{name}" <anita@example.in>'])
    assert_wire_safe(raw, max_header_line=998)
    msg = parse(raw)
    assert msg["from"].addresses[0].display_name == name
    assert msg["to"].addresses[0].display_name == name
    compat_name, _ = email.utils.parseaddr(parse_compat(raw)["From"])
    assert str(make_header(decode_header(compat_name))) == name


def test_very_long_display_name_is_truncated_not_broken() -> None:
    raw = build(from_name="ক" * 1000)
    assert_wire_safe(raw, max_header_line=998)
    name = parse(raw)["from"].addresses[0].display_name
    assert name.startswith("ক" * 100) and name.endswith("…")


# --- bodies and attachments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "cte"),
    [
        ("Hello\nworld\n", "7bit"),
        ("আপনার অভিযোগ নথিভুক্ত হয়েছে।\n" * 20, "base64"),
        ("Dear resident, your complaint is registered. Ravi Kumār\n" * 5, "quoted-printable"),
        ("x" * 200 + "\n", "quoted-printable"),
    ],
)
def test_body_encoding(body: str, cte: str) -> None:
    raw = build(body=body)
    assert_wire_safe(raw)
    for line in raw.split(b"\r\n"):
        assert len(line) <= 78
    msg = parse(raw)
    assert msg["content-transfer-encoding"] == cte
    assert body_text(msg) == body


def test_body_line_ends_and_controls_are_normalised() -> None:
    raw = build(body="a\r\nb\rc\nd\x00e\x1bf\tg\ufeff  \n.\nFrom me\n")
    assert b"\x00" not in raw and b"\x1b" not in raw
    assert body_text(parse(raw)) == "a\nb\nc\ndef\tg\ufeff  \n.\nFrom me\n"


@pytest.mark.parametrize("lang", LANGS)
def test_rendered_templates_build_and_parse(templates: Templates, lang: str) -> None:
    for name in RESIDENT_TEMPLATES + OFFICER_TEMPLATES:
        subject, body = templates.render(name, lang, **context_for(name))
        raw = build(subject=subject, body=body)
        assert_wire_safe(raw)
        msg = parse(raw)
        assert msg["subject"] == subject
        assert body_text(msg) == body


def test_attachments_make_multipart_mixed() -> None:
    photo = bytes(range(256)) * 40
    raw = build(
        body="নতুন ছবি সংযুক্ত।\n",
        attachments=[
            ("ছবি_আমাদের পাড়ায় গত তিন দিন ধরে রাতে জোরে মাইক বাজানো হচ্ছে.jpg", "image/jpeg", photo),
            ("../../etc/passwd", "text/plain", b"root:x:0:0\n"),
            ("mail.eml", "message/rfc822", b"Subject: x\r\n\r\nhi\r\n"),
            ("odd\r\nname.bin", "not a type", b"\x00\x01"),
        ],
    )
    assert_wire_safe(raw, max_header_line=78)
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    assert msg["mime-version"] == "1.0"
    assert body_text(msg) == "নতুন ছবি সংযুক্ত।\n"
    atts = list(msg.iter_attachments())
    assert [a.get_filename() for a in atts] == [
        "ছবি_আমাদের পাড়ায় গত তিন দিন ধরে রাতে জোরে মাইক বাজানো হচ্ছে.jpg",
        ".._.._etc_passwd",
        "mail.eml",
        "odd name.bin",
    ]
    assert [a.get_content_type() for a in atts] == [
        "image/jpeg",
        "text/plain",
        "application/octet-stream",
        "application/octet-stream",
    ]
    assert atts[0].get_content() == photo
    assert msg["subject"] == f"Re: Noise [{CODE}]"
    assert len(msg.get_all("mime-version")) == 1


@pytest.mark.parametrize("subject", [*LONG_SUBJECTS.values(), "ক্ষ" * 60, "a" + "\u0301" * 100])
def test_encoded_words_keep_clusters_whole(subject: str) -> None:
    raw = build(subject=subject)
    assert_wire_safe(raw)
    words = re.findall(
        rb"=\?utf-8\?b\?([A-Za-z0-9+/=]+)\?=", header_block(raw).split(b"Subject:")[1]
    )
    assert len(words) > 1
    pieces = [base64.b64decode(w).decode("utf-8") for w in words]  # whole characters each
    assert "".join(pieces) == subject
    if "\u0301" * 50 not in subject:
        for piece in pieces[1:]:
            assert unicodedata.category(piece[0]) not in ("Mn", "Mc")
        for piece in pieces[:-1]:
            assert unicodedata.combining(piece[-1]) != 9  # no word ends in a virama


@pytest.mark.parametrize("lang", LANGS)
def test_ack_subject_that_is_only_a_prefix(templates: Templates, lang: str) -> None:
    empty, _ = templates.render("ack", lang, **ack_context(subject=""))
    for only_prefix in ("Re:", "  RE :  ", " "):
        subject, _ = templates.render("ack", lang, **ack_context(subject=only_prefix))
        assert subject == empty


def test_template_with_bom(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "t.txt").write_text("\ufeffSubject: S\n\nB\n", encoding="utf-8")
    assert Templates(tmp_path).render("t", "en") == ("S", "B\n")
