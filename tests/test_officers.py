"""Officers handle complaints by replying: conversations against Dovecot and the SMTP server.

A resident writes; the officers' notification arrives; an officer replies from their client
with commands at the top; the resident hears back; a reply to the closure reopens.
"""

from __future__ import annotations

import pytest
from conversation import OFFICER, OTHER_OFFICER, RESIDENT, Conversation
from deskenv import resident_mail


def test_report_progress_close_and_reopen_by_mail(conversation):
    ack, notification = conversation.report()
    code = conversation.complaint()["code"]
    assert f"[{code}]" in notification["Subject"]

    conversation.reply(
        OFFICER, notification, "#progress A team is checking the CCTV at the crossing."
    )
    conversation.poll()
    [update] = conversation.received(RESIDENT)
    assert code in update["Subject"] and "CCTV" in update.get_content()
    [confirm] = conversation.received(OFFICER)
    assert "#progress" in confirm.get_content()
    complaint = conversation.complaint()
    assert complaint["status"] == "in_process" and complaint["first_action_at"]

    conversation.reply(OFFICER, notification, "#close The chain was recovered and returned.")
    conversation.poll()
    [closure] = conversation.received(RESIDENT)
    assert "recovered" in closure.get_content()
    assert conversation.complaint()["status"] == "closed"

    conversation.reply(RESIDENT, closure, "It was not my chain, it is still missing!")
    conversation.poll()
    assert conversation.complaint()["status"] == "in_process"
    assert len(conversation.received(OFFICER)) == 1  # the officers hear it was reopened
    assert len(conversation.received(RESIDENT)) == 1  # and the resident that it is open again
    actions = [e["action"] for e in conversation.store().events(conversation.complaint()["id"])]
    assert actions[-3:] == ["progress", "closed", "reopened"]


def test_incomplete_then_the_residents_answer_returns_it_to_process(conversation):
    _, notification = conversation.report()
    conversation.reply(
        OFFICER, notification, "#incomplete Please send the bike's number if you saw it"
    )
    conversation.poll()
    [request] = conversation.received(RESIDENT)
    assert "number" in request.get_content()
    assert conversation.complaint()["status"] == "incomplete_info"
    conversation.reply(RESIDENT, request, "It was WB 02 AB 1234.")
    conversation.poll()
    assert conversation.complaint()["status"] == "in_process"
    [note] = conversation.received(OFFICER)
    assert "WB 02 AB 1234" in note.get_content()


def test_a_reply_that_lost_its_threading_headers_still_matches_by_code(conversation):
    _, notification = conversation.report()
    conversation.reply(
        OFFICER, notification, "#urgent the accused is still in the area", keep_headers=False
    )
    conversation.poll()
    complaint = conversation.complaint()
    assert complaint["urgency"] == "urgent"
    [event] = [
        e for e in conversation.store().events(complaint["id"]) if e["action"] == "reclassified"
    ]
    assert event["actor"] == OFFICER and event["detail"]["to"] == "urgent"


def test_unknown_command_gets_help_and_changes_nothing(conversation):
    _, notification = conversation.report()
    before = conversation.complaint()
    conversation.reply(OFFICER, notification, "#clsoe done")
    conversation.poll()
    [help_reply] = conversation.received(OFFICER)
    assert "#close" in help_reply.get_content()
    after = conversation.complaint()
    assert after["status"] == before["status"] and conversation.received(RESIDENT) == []


def test_transfer_and_forward(conversation):
    _, notification = conversation.report()
    conversation.reply(
        OFFICER,
        notification,
        "#forward KMC the street light is broken\n#transfer LKT happened in their area",
    )
    conversation.poll()
    complaint = conversation.complaint()
    [to_agency] = conversation.received("grievance@kmc.test")
    assert complaint["code"] in to_agency["Subject"] + to_agency.get_content()
    assert complaint["station"] == "LKT" and complaint["status"] == "transferred"
    assert len(conversation.received(OTHER_OFFICER)) == 1  # Lake Town's officers now own it
    told = conversation.received(RESIDENT)
    assert any("LKT Police Station" in m.get_content() for m in told)


def test_status_request_detailed_for_the_filer_neutral_for_a_stranger(conversation):
    conversation.report()
    code = conversation.complaint()["code"]
    conversation.deliver(
        resident_mail(RESIDENT, conversation.bhl.address, f"STATUS {code}", "", "s1@yahoo")
    )
    conversation.deliver(
        resident_mail(
            "stranger@gmail.com", conversation.bhl.address, f"STATUS {code}", "", "s2@gmail"
        )
    )
    conversation.poll()
    [mine] = conversation.received(RESIDENT)
    [theirs] = conversation.received("stranger@gmail.com")
    assert code in mine.get_content()
    assert (
        "Chain snatched" not in theirs.get_content() and "acknowledged" not in theirs.get_content()
    )


# -- spoofing: none of these may change anything ------------------------------------------------


def _unchanged(conversation, before) -> None:
    after = conversation.store().complaint(before["id"])
    for field in ("status", "urgency", "station", "closed_at", "first_action_at"):
        assert after[field] == before[field], field
    assert conversation.received(RESIDENT) == []


def test_a_code_typed_into_a_strangers_subject_changes_nothing(conversation):
    _, notification = conversation.report()
    before = conversation.complaint()
    conversation.reply("stranger@gmail.com", notification, "#close nothing happened")
    conversation.poll()
    _unchanged(conversation, before)


def test_an_officer_of_another_station_changes_nothing(conversation):
    _, notification = conversation.report()
    before = conversation.complaint()
    conversation.reply(OTHER_OFFICER, notification, "#close not ours")
    conversation.poll()
    _unchanged(conversation, before)


@pytest.mark.parametrize(
    "header",
    [
        "",  # no Authentication-Results at all: a resident forging the officer's From
        "Authentication-Results: mx.maildesk.test; dkim=fail header.d=maildesk.test; spf=fail "
        "smtp.mailfrom=maildesk.test",
        "Authentication-Results: mx.evil.example; dkim=pass header.d=maildesk.test",
    ],
)
def test_without_a_passing_verdict_from_the_stations_server_nothing_changes(
    tmp_path, dovecot, mailbox_user, smtp, header
):
    conversation = Conversation(tmp_path, dovecot, mailbox_user, smtp)
    conversation.config = _strict(conversation)
    _, notification = conversation.report()
    before = conversation.complaint()
    conversation.reply(OFFICER, notification, "#close done", extra=header)
    conversation.poll()
    _unchanged(conversation, before)
    assert (
        conversation.store().query("SELECT count(*) AS n FROM messages WHERE kind = 'refused'")[0][
            "n"
        ]
        == 1
    )


def test_with_a_passing_verdict_the_officer_acts(tmp_path, dovecot, mailbox_user, smtp):
    conversation = Conversation(tmp_path, dovecot, mailbox_user, smtp)
    conversation.config = _strict(conversation)
    _, notification = conversation.report()
    conversation.reply(
        OFFICER,
        notification,
        "#close recovered",
        extra="Authentication-Results: mx.maildesk.test; dkim=pass "
        "header.d=maildesk.test; spf=pass smtp.mailfrom=si.mukherjee@maildesk.test",
    )
    conversation.poll()
    assert conversation.complaint()["status"] == "closed"


def _strict(conversation: Conversation):
    return conversation.configure(authserv="mx.maildesk.test")


def test_overrides_list_reclassifications_with_the_reasons_behind_them(conversation):
    from maildesk.desk import Desk as Open
    from maildesk.reports.cli_views import overrides

    _, notification = conversation.report()
    conversation.reply(OFFICER, notification, "#urgent the accused is armed and nearby")
    conversation.poll()
    code, reasons = conversation.complaint()["code"], conversation.complaint()["reasons"]
    opened = Open.open(conversation.config)
    lines = overrides(opened, 10)
    opened.close()
    assert lines[0].startswith(f"{code}  ") and "-> urgent" in lines[0]
    assert "armed and nearby" in lines[0] and OFFICER in lines[0]
    assert [line.strip() for line in lines[1:]] == reasons  # the phrases that had decided it


def test_a_status_answer_shows_the_filer_no_internal_notes(conversation):
    _, notification = conversation.report()
    conversation.reply(OFFICER, notification, "#note the complainant's neighbour is a suspect")
    conversation.poll()
    code = conversation.complaint()["code"]
    conversation.deliver(
        resident_mail(RESIDENT, conversation.bhl.address, f"STATUS {code}", "", "s3@yahoo")
    )
    conversation.poll()
    [answer] = conversation.received(RESIDENT)
    assert code in answer.get_content()
    assert "suspect" not in answer.get_content() and "note" not in answer.get_content()


def test_a_reply_starting_with_status_but_saying_more_reaches_the_officers(conversation):
    ack, _ = conversation.report()
    conversation.reply(
        RESIDENT,
        ack,
        "Status: still nobody came, and now the same men are back "
        "outside our gate threatening my son.",
    )
    conversation.poll()
    [note] = conversation.received(OFFICER)
    assert "threatening my son" in note.get_content()
