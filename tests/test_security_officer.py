"""Issue 9, items 1 (plain text), 2, 3 and 9: only an authenticated officer's own typed commands
change a complaint. Every attack goes as mail through Dovecot, the daemon's pipeline and the
recording SMTP server (the `conversation` fixture); docs/security.md lists each one."""

from __future__ import annotations

import pytest
import yaml
from conversation import OFFICER, OTHER_OFFICER, RESIDENT, Conversation
from deskenv import resident_mail, write_config

from maildesk.config.settings import load_config
from maildesk.officer.commands import Command, parse_commands

AUTHSERV = "mx.maildesk.test"
KMC = "grievance@kmc.test"
PASS = f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=maildesk.test"
HOSTILE_BODY = ("Two men on a bike snatched my chain at 8 pm.\n#transfer LKT\n#forward KMC\n"
                "#close nothing to do\n#routine")


def send(conversation: Conversation, sender: str, notification, body: str,
         extra: str = "", sender_header: str = "") -> None:
    """A reply in the notification's thread; `sender_header` replaces the From line."""
    conversation.count += 1
    threading = (f"In-Reply-To: {notification['Message-ID']}\n"
                 f"References: {notification['Message-ID']}\n")
    raw = resident_mail(sender, conversation.bhl.address, f"Re: {notification['Subject']}",
                        body, f"attack{conversation.count}@client.test",
                        extra=threading + extra)
    if sender_header:
        raw = raw.replace(f"From: {sender}\r\n".encode(), sender_header.encode() + b"\r\n", 1)
    conversation.deliver(raw)
    conversation.poll()


def unchanged(conversation: Conversation, before: dict) -> None:
    after = conversation.complaint()
    for field in ("status", "urgency", "station", "closed_at", "first_action_at"):
        assert after[field] == before[field], field
    assert conversation.received(RESIDENT) == []
    assert conversation.received(KMC) == []
    assert conversation.received(OTHER_OFFICER) == []


def close_with_verdict(conversation: Conversation, header: str) -> None:
    """The officer's `#close` under the trusted server's Authentication-Results `header`
    changes nothing and tells nobody."""
    conversation.configure(authserv=AUTHSERV)
    _, notification = conversation.report()
    before = conversation.complaint()
    send(conversation, OFFICER, notification, "#close done",
         extra=f"Authentication-Results: {header}")
    unchanged(conversation, before)


def only_progress(conversation: Conversation, before: dict, note: str) -> None:
    """The officer's one typed command ran, and nothing from the quote did."""
    after = conversation.complaint()
    assert after["status"] == "in_process"
    for field in ("urgency", "station", "closed_at"):
        assert after[field] == before[field], field
    assert conversation.received(KMC) == [] and conversation.received(OTHER_OFFICER) == []
    [update] = conversation.received(RESIDENT)
    text = update.get_content()
    assert note in text
    assert "#" not in text.replace(f"[{after['code']}]", "")  # no help line, no resident line
    assert "Reply to this mail" not in text and "act now" not in text
    actions = [e["action"] for e in conversation.store().events(after["id"])]
    assert actions.count("progress") == 1
    assert not {"closed", "transferred", "forwarded", "reclassified", "incomplete"} & set(actions)


def stripped(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines())


# -- 1. commands only from the officer's own block at the top (plain text) --------------------

NOTE = "constable will visit tonight"


@pytest.mark.parametrize(
    "paste",
    [
        pytest.param(lambda body: body, id="quote-pasted-without-quote-marks"),
        pytest.param(stripped, id="help-lines-with-indentation-stripped"),
        pytest.param(lambda body: "\n\n".join(stripped(body).splitlines()),
                     id="quote-stripped-with-blank-lines-between"),
    ],
)
def test_a_notification_pasted_below_the_officers_command_adds_nothing(conversation, paste):
    conversation.report(body=HOSTILE_BODY)
    [notification] = conversation.received(OFFICER)
    before = conversation.complaint()
    quote = paste(notification.get_content())
    assert "#close NOTE" in stripped(quote) and "#transfer LKT" in stripped(quote)
    body = f"#progress {NOTE}\n\n{quote}"
    # The grammar alone (whatever the quote finder makes of it) takes only the typed command.
    assert parse_commands(body).commands == (Command("progress", NOTE, 1),)
    send(conversation, OFFICER, notification, body)
    only_progress(conversation, before, NOTE)


def test_a_notification_pasted_alone_acts_on_nothing(conversation):
    conversation.report(body=HOSTILE_BODY)
    [notification] = conversation.received(OFFICER)
    before = conversation.complaint()
    events = [e["action"] for e in conversation.store().events(before["id"])]
    send(conversation, OFFICER, notification, stripped(notification.get_content()))
    after = conversation.complaint()
    for field in ("status", "urgency", "station", "closed_at", "first_action_at"):
        assert after[field] == before[field], field
    assert conversation.received(RESIDENT) == [] and conversation.received(KMC) == []
    # The quote finder knows the desk's own notification: nothing was typed, nothing acts,
    # not even a note (which would count as a first action).
    assert [e["action"] for e in conversation.store().events(after["id"])] == events
    # The officer is told why, and the mail itself is kept.
    [help_mail] = conversation.received(OFFICER)
    assert "Nothing was done" in help_mail.get_content()
    assert [m["kind"] for m in conversation.store().query(
        "SELECT kind FROM messages ORDER BY id")] == ["new", "officer"]


@pytest.mark.parametrize(
    "body",
    [
        "Spoke to the complainant.\n#close recovered",
        "Sir,\n#transfer LKT",
        "Will look into it.\n\n#forward KMC\n#urgent",
    ],
)
def test_commands_below_a_first_other_line_are_not_carried_out(conversation, body):
    _, notification = conversation.report()
    before = conversation.complaint()
    send(conversation, OFFICER, notification, body)
    unchanged(conversation, before)
    [help_mail] = conversation.received(OFFICER)
    assert "Nothing was done" in help_mail.get_content()


def test_indented_command_lines_are_not_carried_out(conversation):
    """(The mail's very first line reaches maildesk already trimmed by the parser; every
    other line keeps its indentation, as in a quote whose ">" the client left out.)"""
    _, notification = conversation.report()
    before = conversation.complaint()
    send(conversation, OFFICER, notification, "#assign SI\n  #close recovered\n\t#transfer LKT\n"
         "\u00a0#forward KMC")
    after = conversation.complaint()
    for field in ("status", "urgency", "station", "closed_at"):
        assert after[field] == before[field], field
    assert after["assigned_to"] == OFFICER
    assert conversation.received(KMC) == [] and conversation.received(OTHER_OFFICER) == []
    assert conversation.received(RESIDENT) == []
    [confirm] = conversation.received(OFFICER)
    assert "#close (line 2) was not carried out" in confirm.get_content()


def test_a_residents_commands_inside_the_quote_never_run(conversation):
    """The resident wrote `#transfer LKT` / `#forward KMC`; the officer's client quoted the
    notification with its indentation stripped and no '>'; the officer typed one command."""
    conversation.report(body=HOSTILE_BODY)
    [notification] = conversation.received(OFFICER)
    before = conversation.complaint()
    resident_part = "\n".join(line.strip() for line in HOSTILE_BODY.splitlines())
    send(conversation, OFFICER, notification,
         f"#progress {NOTE}\n{resident_part}\n\n{stripped(notification.get_content())}")
    after = conversation.complaint()
    assert after["station"] == "BHL" and after["urgency"] == before["urgency"]
    assert after["status"] == "in_process"
    assert conversation.received(KMC) == [] and conversation.received(OTHER_OFFICER) == []


# -- 2. a verdict injected into the trusted server's own header --------------------------------

INJECTED = [
    pytest.param(f'{AUTHSERV}; spf=pass smtp.mailfrom="x;dkim=pass header.d=maildesk.test"'
                 "@evil.example", id="quoted-envelope-sender"),
    pytest.param(f"{AUTHSERV}; spf=pass smtp.mailfrom=x@evil.example "
                 "(x;dkim=pass header.d=maildesk.test); dkim=fail header.d=evil.example",
                 id="in-a-comment"),
    pytest.param(f"{AUTHSERV} (dkim=pass header.d=maildesk.test); none", id="authserv-comment"),
    pytest.param(f"{AUTHSERV}; dkim=pass header.d=test", id="parent-domain"),
    pytest.param(f"{AUTHSERV}; x-dkim=pass header.d=maildesk.test", id="x-dkim"),
    pytest.param(f"{AUTHSERV}; dkim=pass header.d=maildesk.test.evil.example", id="lookalike"),
    pytest.param(f"{AUTHSERV}; spf=pass smtp.mailfrom={OFFICER}", id="spf-alone"),
    pytest.param(f"{AUTHSERV}; dmarc=pass header.from=evil.example", id="dmarc-other-domain"),
    pytest.param("mx.evil.example; dkim=pass header.d=maildesk.test", id="other-authserv"),
    pytest.param(f"{AUTHSERV}.evil.example; dkim=pass header.d=maildesk.test",
                 id="authserv-lookalike"),
]


@pytest.mark.parametrize("header", INJECTED)
def test_an_injected_or_weak_verdict_does_not_act(conversation, header):
    close_with_verdict(conversation, header)
    refused = conversation.store().query("SELECT count(*) AS n FROM messages WHERE kind = "
                                         "'refused'")
    assert refused[0]["n"] == 1


@pytest.mark.parametrize(
    "header",
    [f"{AUTHSERV}; dmarc=pass header.from=maildesk.test",
     f"{AUTHSERV}; dkim=pass header.d=maildesk.test header.i=@maildesk.test; "
     f"spf=pass smtp.mailfrom={OFFICER}",
     f"{AUTHSERV}; dkim=pass (2048-bit key; unprotected) header.d=maildesk.test "
     f"header.i={OFFICER} header.s=mail"],
)
def test_a_real_pass_for_the_officer_acts(conversation, header):
    """The check refuses what it must and no more: the station's server vouching for the
    officer's own address lets the command through."""
    conversation.configure(authserv=AUTHSERV)
    _, notification = conversation.report()
    send(conversation, OFFICER, notification, "#close recovered",
         extra=f"Authentication-Results: {header}")
    assert conversation.complaint()["status"] == "closed"


# -- 3. the server names another sender of the officers' domain --------------------------------

@pytest.mark.parametrize(
    "header",
    [f"{AUTHSERV}; dkim=pass header.d=maildesk.test header.i={OTHER_OFFICER}",
     f"{AUTHSERV}; dkim=pass header.d=maildesk.test; spf=pass smtp.mailfrom={OTHER_OFFICER}",
     f"{AUTHSERV}; dmarc=pass header.from=maildesk.test; auth=pass smtp.auth={OTHER_OFFICER}",
     f"{AUTHSERV}; dkim=pass header.d=maildesk.test; spf=pass smtp.mailfrom=clerk@maildesk.test"],
)
def test_another_sender_of_the_domain_cannot_act_as_the_officer(conversation, header):
    close_with_verdict(conversation, header)


# -- 9. require_authentication by default; one From address ------------------------------------

def test_require_authentication_is_the_default(conversation):
    """A configuration that does not mention it requires it, and refuses a forged From."""
    path, env = write_config(conversation.tmp_path, (conversation.dovecot.host,
                             conversation.dovecot.port), (conversation.smtp.host,
                             conversation.smtp.port), [conversation.bhl, conversation.lkt])
    data = yaml.safe_load(path.read_text())
    del data["defaults"]["require_authentication"]
    data["defaults"]["trusted_authserv_id"] = AUTHSERV
    path.write_text(yaml.safe_dump(data))
    conversation.config = load_config(path, env=env)
    assert all(s.require_authentication for s in conversation.config.stations)
    _, notification = conversation.report()
    before = conversation.complaint()
    send(conversation, OFFICER, notification, "#close forged")
    unchanged(conversation, before)


@pytest.mark.parametrize(
    "from_header",
    [
        f"From: {OFFICER}\r\nFrom: evil@evil.example",
        f"From: evil@evil.example\r\nFrom: {OFFICER}",
        f"From: {OFFICER}, evil@evil.example",
        f"From: {OFFICER})<evil@evil.example>",
        f"From: {OFFICER} <evil@evil.example>",
        f'From: {OFFICER}" <evil@evil.example>',
        f"From: Officers: {OFFICER};",
        f"From: <{OFFICER}",
    ],
)
def test_a_mail_without_exactly_one_from_address_is_not_an_officers(conversation, from_header):
    """Checked with authentication off, so that the From check alone must hold."""
    _, notification = conversation.report()
    before = conversation.complaint()
    send(conversation, OFFICER, notification, "#close forged", sender_header=from_header)
    after = conversation.store().complaint(before["id"])
    for field in ("status", "urgency", "station", "closed_at", "first_action_at"):
        assert after[field] == before[field], field
    assert conversation.received(RESIDENT) == [] and conversation.received(KMC) == []
    kinds = {m["kind"] for m in conversation.store().query("SELECT kind FROM messages")}
    assert "officer" not in kinds


def test_a_stranger_cannot_tell_a_thread_that_exists_from_one_that_does_not(conversation):
    """In-Reply-To the resident's own Message-ID (a stranger may have seen it) gets what a
    made-up one gets: a complaint of their own and its acknowledgement."""
    conversation.report()
    original = conversation.complaint()
    for number, parent in enumerate(("r0@yahoo", "made-up@nowhere.example")):
        conversation.deliver(resident_mail(
            f"stranger{number}@gmail.com", conversation.bhl.address,
            f"Re: [{original['code']}] Chain snatched", "Is this the one?", f"x{number}@gmail",
            extra=f"In-Reply-To: <{parent}>\nReferences: <{parent}>"))
    conversation.poll()
    real, fake = (conversation.received(f"stranger{n}@gmail.com") for n in (0, 1))
    assert len(real) == len(fake) == 1
    assert original["code"] not in real[0]["Subject"].replace(f"[{original['code']}]", "")
    assert real[0].get_content().replace(real[0]["Subject"], "").count("Complaint code") == \
        fake[0].get_content().count("Complaint code")
    events = [e["action"] for e in conversation.store().events(original["id"])]
    assert "third_party_message" not in events
