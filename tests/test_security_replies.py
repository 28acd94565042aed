"""Issue 9, item 1: commands are read only from what the officer typed, never from the quote
below it — an HTML quote (Apple Mail's ``<blockquote type="cite">``, Gmail's ``gmail_quote``
under an attribution in a language maildesk has no rule for) or a plain-text quote pasted
without ">" under an unknown header.  Through Dovecot, the daemon's pipeline and SMTP."""

from __future__ import annotations

import base64
import html
from dataclasses import replace

import pytest
from conversation import OFFICER, RESIDENT, Conversation

AUTH = ("Authentication-Results: mx.maildesk.test; dkim=pass header.d=maildesk.test "
        "header.i=si.mukherjee@maildesk.test; spf=pass smtp.mailfrom=si.mukherjee@maildesk.test")
TYPED = "#progress constable will visit tonight"
# The resident's own words carry commands: in the notification they are indented, but a
# client's quote may lose that indentation.
COMPLAINT = ("Two men on a bike snatched my chain at 8 pm.\n#transfer LKT\n#forward KMC\n"
             "#close NOTE")


def _quote_html(notification) -> str:
    """The notification as a client's HTML quote shows it: one <div> a line, no indentation."""
    return "".join(f"<div>{html.escape(line.strip()) or '<br>'}</div>"
                   for line in notification.get_content().splitlines())


def _apple(notification) -> str:
    return (f"<div>{TYPED}</div><div><br><blockquote type=\"cite\"><div>On 23 Nov 2026, at "
            f"10:05, Behala PS &lt;bhl@maildesk.test&gt; wrote:</div>"
            f"{_quote_html(notification)}</blockquote></div>")


def _gmail_unknown_language(notification) -> str:
    return (f"<div dir=\"ltr\">{TYPED}</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" "
            f"class=\"gmail_attr\">Jumatatu, 23 Nov 2026 saa 10:05 Behala PS &lt;"
            f"bhl@maildesk.test&gt; aliandika:<br></div><blockquote class=\"gmail_quote\">"
            f"{_quote_html(notification)}</blockquote></div>")


def _html_reply(notification, markup: str) -> bytes:
    body = base64.encodebytes(f"<html><body>{markup}</body></html>".encode()).decode()
    return "\r\n".join([
        f"From: {OFFICER}", "To: bhl@maildesk.test", f"Subject: Re: {notification['Subject']}",
        "Message-ID: <html-reply@client.test>", "Date: Mon, 23 Nov 2026 10:30:00 +0530",
        f"In-Reply-To: {notification['Message-ID']}", f"References: {notification['Message-ID']}",
        AUTH, "MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: base64", "", body.replace("\n", "\r\n")]).encode()


def _strict(conversation: Conversation):
    stations = tuple(replace(s, require_authentication=True, trusted_authserv_id="mx.maildesk.test")
                     for s in conversation.config.stations)
    return replace(conversation.config, stations=stations)


@pytest.mark.parametrize("shape", ["apple_blockquote_cite", "gmail_quote_unknown_language",
                                   "plain_pasted_without_marks"])
def test_only_the_typed_command_acts(shape, tmp_path, dovecot, mailbox_user, smtp):
    conversation = Conversation(tmp_path, dovecot, mailbox_user, smtp)
    conversation.config = _strict(conversation)
    _, notification = conversation.report(body=COMPLAINT)
    before = conversation.complaint()
    if shape == "plain_pasted_without_marks":
        # No ">" and a header line in a language nobody has a rule for: only the desk's own
        # copy of the notification (the outbox) tells where the quote begins.
        pasted = notification.get_content().replace("\n  ", "\n")
        conversation.reply(OFFICER, notification, f"{TYPED}\n\nJumatatu Behala PS aliandika\n"
                           f"{pasted}", extra=AUTH)
    else:
        markup = (_apple if shape == "apple_blockquote_cite" else _gmail_unknown_language)(
            notification)
        conversation.deliver(_html_reply(notification, markup))
    conversation.poll()

    complaint = conversation.complaint()
    assert complaint["status"] == "in_process"  # progress acted...
    assert complaint["station"] == "BHL"  # ...and no #transfer LKT
    assert complaint["urgency"] == before["urgency"]  # no #urgent/#semi/#routine
    assert conversation.received("grievance@kmc.test") == []  # no #forward KMC
    actions = [e["action"] for e in conversation.store().events(complaint["id"])]
    assert "progress" in actions
    assert not {"closed", "close", "transfer", "transferred", "forward", "forwarded",
                "incomplete", "assign", "duplicate", "reclassified"} & set(actions)
    [confirm] = conversation.received(OFFICER)
    assert "#progress" in confirm.get_content()
    updates = conversation.received(RESIDENT)
    assert any("constable will visit tonight" in m.get_content() for m in updates)
