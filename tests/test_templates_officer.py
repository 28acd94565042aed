"""Templates for what happens after an officer acts: resident mails in every language, and
the English mails to officers, agencies and administrators."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from maildesk.mail.message import build_message
from maildesk.mail.templates import Templates, default_templates_dir
from maildesk.officer.commands import CANONICAL

LANGS = ("en", "hi", "bn", "mr")
CODE = "BHL-2611-0007"
ORIGINAL = "BHL-2611-0003"
STATION = "Bhelupur Police Station"
STATUSES = ("received", "acknowledged", "in_process", "incomplete_info", "transferred", "closed")
URGENCIES = ("urgent", "semi_urgent", "non_urgent")

RESIDENT_TEMPLATES = (
    "update",
    "incomplete",
    "closed",
    "reopened",
    "transferred",
    "forwarded",
    "duplicate",
)
OFFICER_TEMPLATES = (
    "confirm",
    "help",
    "transfer_notify",
    "reopened_notify",
    "info_received_notify",
    "agency",
    "admin_refusals",
)
# Templates whose context has no complaint code.
NO_CODE = ("admin_refusals",)

# An officer's note over several lines; a line of it starting with "#" must never reach the
# start of a line in the mail (also when split by CR or U+2028, which splitlines() honours).
MULTILINE_NOTE = (
    "Visited the temple committee on 24 Nov.\n"
    "#close was not used: they agreed to stop the loudspeaker after 10 pm.\r"
    "#urgent\u2028#close\n\n"
    "Beat officer will check again on Saturday.\n"
)
BENGALI_NOTE = "মন্দির কমিটির সঙ্গে কথা হয়েছে।\nরাত ১০টার পর মাইক বাজবে না।"
RESIDENT_TEXT = "Still loud last night.\n#close\n\nমাইক আবার বাজছে।"

NOTIFY_EXTRA = {
    "reasons": ["mentions a threat to life"],
    "resident_name": "অনিতা দাস",
    "resident_addr": "anita.das@example.in",
    "text": RESIDENT_TEXT,
    "attachments": [{"name": "photo1.jpg", "content_type": "image/jpeg", "size": 2_345_678}],
    "station_name": "Lanka Police Station",
    "received_at": "23 Nov 2026, 10:02 IST",
    "history": [
        {"at": "23 Nov 10:02", "actor": "maildesk", "action": "received", "detail": ""},
        {"at": "23 Nov 10:20", "actor": "SI Verma", "action": "transfer", "detail": "to LNK"},
    ],
}


def context_for(name: str, **overrides: Any) -> dict[str, Any]:
    """Exactly the context each template is documented to take."""
    subject = "Loudspeaker every night near the temple"
    contexts: dict[str, dict[str, Any]] = {
        "update": {
            "code": CODE,
            "station_name": STATION,
            "subject": subject,
            "note": MULTILINE_NOTE,
            "status": "in_process",
        },
        "incomplete": {
            "code": CODE,
            "station_name": STATION,
            "subject": subject,
            "needed": "The exact address of the hall\n#and a photo of the speakers",
        },
        "closed": {"code": CODE, "station_name": STATION, "subject": subject, "note": BENGALI_NOTE},
        "reopened": {"code": CODE, "station_name": STATION, "subject": subject},
        "transferred": {
            "code": CODE,
            "station_name": STATION,
            "subject": subject,
            "new_station_name": "Lanka Police Station",
            "new_station_address": "sho.lanka@police.example.in",
            "note": "The temple is in Lanka's area.",
        },
        "forwarded": {
            "code": CODE,
            "station_name": STATION,
            "subject": subject,
            "agency_name": "Varanasi Municipal Corporation",
            "note": "",
        },
        "duplicate": {
            "code": CODE,
            "station_name": STATION,
            "subject": subject,
            "original_code": ORIGINAL,
        },
        "confirm": {
            "code": CODE,
            "subject": subject,
            "officer": "si.verma@police.example.in",
            "done": [
                "#progress: status is now in process; the resident was told",
                "#urgent: urgency is now URGENT",
            ],
            "problems": ["#frobnicate: unknown command"],
            "status": "in_process",
            "urgency": "urgent",
        },
        "help": {
            "code": CODE,
            "subject": f"Re: [URGENT] [{CODE}] {subject}",
            "reason": "no command was understood",
            "problems": ["line 1: '#clsoe' is not a command"],
        },
        "transfer_notify": {
            "code": CODE,
            "urgency": "semi_urgent",
            "subject": subject,
            **NOTIFY_EXTRA,
            "from_station": STATION,
            "officer": "si.verma@police.example.in",
            "note": "Temple is in your area.\n#close please",
        },
        "reopened_notify": {
            "code": CODE,
            "urgency": "non_urgent",
            "subject": f"Re: Your complaint is closed [{CODE}]",
            "text": RESIDENT_TEXT,
            "resident_addr": "anita.das@example.in",
            "station_name": STATION,
        },
        "info_received_notify": {
            "code": CODE,
            "urgency": "urgent",
            "subject": subject,
            "text": "The hall is at 12/3 Durgakund Road.\n#close",
            "resident_addr": "anita.das@example.in",
            "station_name": STATION,
        },
        "agency": {
            "code": CODE,
            "station_name": STATION,
            "agency_name": "Varanasi Municipal Corporation",
            "subject": subject,
            "text": RESIDENT_TEXT,
            "note": "Garbage dumped in the lane\n#close",
            "station_address": "sho.bhelupur@police.example.in",
        },
        "admin_refusals": {
            "station": "BHL",
            "address": "someone@example.com",
            "count": 7,
            "reasons": ["not an officer of BHL", "#close from unknown sender"],
            "since": "23 Nov 2026, 10:00 IST",
        },
    }
    ctx = dict(contexts[name])
    ctx.update(overrides)
    return ctx


def languages(name: str) -> tuple[str, ...]:
    return LANGS if name in RESIDENT_TEMPLATES else ("en",)


ALL_CASES = [(n, lang) for n in RESIDENT_TEMPLATES + OFFICER_TEMPLATES for lang in languages(n)]


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(default_templates_dir())


def assert_no_hash_lines(body: str) -> None:
    for line in body.splitlines():
        assert not line.startswith("#"), line


# ---------------------------------------------------------------------------------------------
# Every template
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", RESIDENT_TEMPLATES)
def test_resident_templates_exist_in_every_language(templates: Templates, name, lang) -> None:
    assert templates.has(name, lang)


@pytest.mark.parametrize("name", OFFICER_TEMPLATES)
def test_officer_templates_are_english_only(templates: Templates, name: str) -> None:
    assert templates.has(name, "en")
    for lang in ("hi", "bn", "mr"):
        assert not templates.has(name, lang)
        assert templates.render(name, lang, **context_for(name)) == templates.render(
            name, "en", **context_for(name)
        )


@pytest.mark.parametrize(("name", "lang"), ALL_CASES)
def test_renders_with_exactly_the_documented_context(templates: Templates, name, lang) -> None:
    ctx = context_for(name)
    subject, body = templates.render(name, lang, **ctx)
    assert subject and subject == subject.strip()
    assert "\n" not in subject and "\r" not in subject
    assert body.strip() and not body.startswith("Subject:")
    assert "None" not in subject + body
    if name not in NO_CODE:
        assert CODE in subject and CODE in body
    # No line starts with "#", in resident mails and (like notify.txt) in officer mails.
    assert_no_hash_lines(body)
    # The built message carries the same text.
    raw = build_message(
        from_addr="sho.bhelupur@police.example.in",
        from_name=STATION,
        to_addrs=["anita.das@example.in"],
        subject=subject,
        body=body,
        message_id=f"{name}.{CODE}@police.example.in",
    )
    assert b"\r\n\r\n" in raw


@pytest.mark.parametrize(("name", "lang"), ALL_CASES)
def test_every_context_variable_is_required(templates: Templates, name, lang) -> None:
    # StrictUndefined: each documented variable is really used, and nothing else is needed.
    ctx = context_for(name)
    for key in ctx:
        partial = {k: v for k, v in ctx.items() if k != key}
        with pytest.raises(jinja2.UndefinedError):
            templates.render(name, lang, **partial)


@pytest.mark.parametrize(("name", "lang"), ALL_CASES)
def test_template_syntax_in_values_stays_literal(templates: Templates, name, lang) -> None:
    ctx = context_for(name)
    trap = "{{ 7*7 }} {% if 1 %}x{% endif %}"
    for key, value in ctx.items():
        if isinstance(value, str) and key not in ("code", "status", "urgency"):
            ctx[key] = f"{value} {trap}"
        elif isinstance(value, list) and value and isinstance(value[0], str):
            ctx[key] = [f"{v} {trap}" for v in value]
    subject, body = templates.render(name, lang, **ctx)
    assert trap in body
    assert "49" not in subject + body


# ---------------------------------------------------------------------------------------------
# Resident mails
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", RESIDENT_TEMPLATES)
def test_resident_subjects_thread_as_replies(templates: Templates, name, lang) -> None:
    subject, _ = templates.render(name, lang, **context_for(name, subject="RE: Re: Aw: Noise"))
    assert subject == f"Re: Noise [{CODE}]"
    empty, _ = templates.render(name, lang, **context_for(name, subject=""))
    assert empty.endswith(f"[{CODE}]") and not empty.startswith("Re:")
    assert len(empty) > len(f"[{CODE}]") + 5  # a localized "your complaint ..." phrase
    for only_prefix in ("Re:", "  RE :  ", " "):
        assert templates.render(name, lang, **context_for(name, subject=only_prefix))[0] == empty


def test_empty_subject_phrases(templates: Templates) -> None:
    stems = {
        "en": "Your complaint",
        "hi": "आपकी शिकायत",
        "bn": "আপনার অভিযোগ",
        "mr": ("आपली तक्रार", "आपल्या तक्रारी"),
    }
    for name in RESIDENT_TEMPLATES:
        for lang, stem in stems.items():
            subject, _ = templates.render(name, lang, **context_for(name, subject=""))
            assert subject.startswith(stem), (name, lang, subject)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", RESIDENT_TEMPLATES)
def test_resident_mails_are_short_and_point_to_112(templates: Templates, name, lang) -> None:
    ctx = context_for(name)
    _, body = templates.render(name, lang, **ctx)
    assert "112" in body
    assert ctx["station_name"] in body
    assert len(body) < 1500  # readable on a phone
    for raw_key in ("in_process", "incomplete_info", "semi_urgent", "non_urgent"):
        assert raw_key not in body


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("note", [MULTILINE_NOTE, BENGALI_NOTE])
def test_update_shows_the_whole_note_indented(templates: Templates, lang: str, note: str):
    _, body = templates.render("update", lang, **context_for("update", note=note))
    assert_no_hash_lines(body)
    for line in note.splitlines():
        if line.strip():
            assert f"  {line.strip()}" in body.splitlines()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("status", STATUSES)
def test_update_status_in_plain_words(templates: Templates, lang: str, status: str) -> None:
    _, body = templates.render("update", lang, **context_for("update", status=status))
    if "_" in status:
        assert status not in body
    bodies = {
        templates.render("update", lang, **context_for("update", status=s))[1] for s in STATUSES
    }
    assert len(bodies) == len(STATUSES)


def test_update_with_unknown_status_fails_loudly(templates: Templates) -> None:
    with pytest.raises(jinja2.UndefinedError):
        templates.render("update", "en", **context_for("update", status="whatever"))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("update", "note"),
        ("closed", "note"),
        ("incomplete", "needed"),
        ("transferred", "note"),
        ("forwarded", "note"),
    ],
)
def test_officer_words_reach_the_resident(templates: Templates, lang, name, key) -> None:
    for words in (MULTILINE_NOTE, BENGALI_NOTE, "One line."):
        _, body = templates.render(name, lang, **context_for(name, **{key: words}))
        assert_no_hash_lines(body)
        for line in words.splitlines():
            if line.strip():
                assert line.strip() in body


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", ["transferred", "forwarded"])
def test_empty_note_leaves_no_label(templates: Templates, lang: str, name: str) -> None:
    _, with_note_body = templates.render(name, lang, **context_for(name, note="Checked."))
    _, without = templates.render(name, lang, **context_for(name, note=""))
    assert "Checked." in with_note_body
    assert len(without.splitlines()) == len(with_note_body.splitlines()) - 3
    assert "\n\n\n" not in without


@pytest.mark.parametrize("lang", LANGS)
def test_specific_values_shown(templates: Templates, lang: str) -> None:
    _, body = templates.render("transferred", lang, **context_for("transferred"))
    assert "Lanka Police Station" in body and "sho.lanka@police.example.in" in body
    _, body = templates.render("forwarded", lang, **context_for("forwarded"))
    assert "Varanasi Municipal Corporation" in body
    _, body = templates.render("duplicate", lang, **context_for("duplicate"))
    assert ORIGINAL in body


# ---------------------------------------------------------------------------------------------
# Officer, agency and administrator mails
# ---------------------------------------------------------------------------------------------

COMMANDS = tuple(f"#{name}" for name in CANONICAL)  # every command officers can use


def test_confirm(templates: Templates) -> None:
    ctx = context_for("confirm")
    subject, body = templates.render("confirm", "en", **ctx)
    assert subject == f"Re: [{CODE}] done: in process, URGENT; 1 problem"
    for item in ctx["done"] + ctx["problems"]:
        assert f"  - {item}" in body
    assert ctx["officer"] in body and ctx["subject"] in body
    for command in COMMANDS:
        assert command in body
    assert "top of your reply, one per line" in body


def test_confirm_without_problems_has_no_reminder(templates: Templates) -> None:
    subject, body = templates.render(
        "confirm", "en", **context_for("confirm", problems=[], urgency="semi_urgent")
    )
    assert subject == f"Re: [{CODE}] done: in process, semi-urgent"
    assert "#duplicate" not in body and "problem" not in body.lower()
    two = ["a", "b"]
    subject, _ = templates.render("confirm", "en", **context_for("confirm", problems=two))
    assert subject.endswith("; 2 problems")


def test_confirm_reminder_is_three_lines(templates: Templates) -> None:
    _, body = templates.render("confirm", "en", **context_for("confirm"))
    lines = body.splitlines()
    assert "one per line" in lines[-3]
    assert all(line.startswith("  #") for line in lines[-2:])
    assert all(len(line) <= 78 for line in lines[-3:])


@pytest.mark.parametrize("code", [CODE, None, ""])
def test_help(templates: Templates, code: str | None) -> None:
    ctx = context_for("help", code=code)
    subject, body = templates.render("help", "en", **ctx)
    assert subject.startswith("Re: ") and subject.endswith("[help]")
    assert not subject.startswith("Re: Re:")
    assert subject.count(CODE) == 1  # the officer's subject carries it; never twice
    assert ctx["reason"] in body and ctx["problems"][0] in body
    for command in COMMANDS:
        assert command in body
    assert "top of your reply, one per line" in body
    assert "None" not in subject + body
    assert_no_hash_lines(body)


def test_help_without_subject_or_code(templates: Templates) -> None:
    subject, body = templates.render(
        "help",
        "en",
        **context_for(
            "help",
            code=None,
            subject="",
            problems=[],
            reason="you are not listed as an officer of BHL",
        ),
    )
    assert subject == "Re: your mail [help]"
    assert "you are not listed as an officer of BHL" in body
    assert "Problems" not in body
    subject, _ = templates.render("help", "en", **context_for("help", subject="Hello"))
    assert subject == f"Re: Hello [{CODE}] [help]"


def test_transfer_notify(templates: Templates) -> None:
    ctx = context_for("transfer_notify")
    subject, body = templates.render("transfer_notify", "en", **ctx)
    assert subject == f"[SEMI-URGENT] [{CODE}] Transferred: {ctx['subject']}"
    assert f"Transferred to you from {STATION} by si.verma@police.example.in" in body
    assert "  Temple is in your area." in body and "  #close please" in body
    assert "anita.das@example.in" in body and "photo1.jpg" in body and "SI Verma" in body
    for command in COMMANDS:
        assert command in body
    _, no_note = templates.render(
        "transfer_notify", "en", **context_for("transfer_notify", note="")
    )
    assert "Note from" not in no_note


@pytest.mark.parametrize("name", ["reopened_notify", "info_received_notify"])
@pytest.mark.parametrize(
    ("urgency", "tag"),
    [("urgent", "[URGENT]"), ("semi_urgent", "[SEMI-URGENT]"), ("non_urgent", "[NON-URGENT]")],
)
def test_resident_reply_notifications(templates: Templates, name, urgency, tag) -> None:
    ctx = context_for(name, urgency=urgency)
    subject, body = templates.render(name, "en", **ctx)
    assert subject.startswith(f"{tag} [{CODE}] ")
    assert "Re:" not in subject
    assert ctx["resident_addr"] in body and STATION in body
    for line in ctx["text"].splitlines():
        if line:
            assert f"  {line}" in body
    assert ("REOPENED" if name == "reopened_notify" else "back in process") in body


def test_agency(templates: Templates) -> None:
    ctx = context_for("agency")
    subject, body = templates.render("agency", "en", **ctx)
    assert subject == f"[{CODE}] Complaint forwarded by {STATION}: {ctx['subject']}"
    assert ctx["agency_name"] in body and ctx["station_address"] in body
    assert "  Garbage dumped in the lane" in body and "  মাইক আবার বাজছে।" in body
    _, no_note = templates.render("agency", "en", **context_for("agency", note="", subject=""))
    assert "Note from" not in no_note and "(no subject)" in no_note


def test_admin_refusals(templates: Templates) -> None:
    ctx = context_for("admin_refusals")
    subject, body = templates.render("admin_refusals", "en", **ctx)
    assert subject == "[maildesk] BHL: 7 refused officer commands from someone@example.com"
    for value in ("BHL", "someone@example.com", "7", ctx["since"], *ctx["reasons"]):
        assert value in body
    one, _ = templates.render("admin_refusals", "en", **context_for("admin_refusals", count=1))
    assert "1 refused officer command from" in one


@pytest.mark.parametrize(
    ("name", "label"),
    [("reopened_notify", "Reopened"), ("info_received_notify", "Information received")],
)
def test_resident_reply_subject_carries_the_code_once(templates: Templates, name, label) -> None:
    ctx = context_for(name, urgency="urgent", subject=f"Re: RE: Loud music [{CODE}]")
    subject, _ = templates.render(name, "en", **ctx)
    assert subject == f"[URGENT] [{CODE}] {label}: Loud music"
    subject, _ = templates.render(name, "en", **context_for(name, subject=f"Re: [{CODE}]"))
    assert subject.endswith(f"[{CODE}] {label}: (no subject)")
