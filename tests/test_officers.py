"""Officers handle complaints by replying: conversations against Dovecot and the SMTP server.

A resident writes; the officers' notification arrives; an officer replies from their client
with commands at the top; the resident hears back; a reply to the closure reopens.
"""

from __future__ import annotations

import asyncio

import pytest
from deskenv import StationAccount, config_for, parse, resident_mail
from servers import SmtpRecorder

from maildesk.daemon import poll_once
from maildesk.store.db import Store

OFFICER = "si.mukherjee@maildesk.test"
OTHER_OFFICER = "si.ghosh@maildesk.test"
RESIDENT = "amit.sharma@yahoo.co.in"


class Desk:
    """One station on the test servers, and what each party received."""

    def __init__(self, tmp_path, dovecot, user, smtp: SmtpRecorder, **station: object):
        self.dovecot, self.smtp = dovecot, smtp
        self.bhl = StationAccount("BHL", user.name, user.password, (OFFICER,))
        lkt_user = dovecot.add_user(f"{user.name}lkt", "lkt-password")
        self.lkt = StationAccount("LKT", lkt_user.name, lkt_user.password, (OTHER_OFFICER,))
        self.config = config_for(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                                 [self.bhl, self.lkt], **station)
        self.count = 0

    def deliver(self, raw: bytes, station: StationAccount | None = None) -> None:
        self.dovecot.append((station or self.bhl).user, raw)

    def poll(self):
        self.smtp.clear()
        return asyncio.run(poll_once(self.config))

    def received(self, address: str) -> list:
        return [parse(m.data) for m in self.smtp.messages if address in m.rcpt_tos]

    def store(self) -> Store:
        return Store(self.config.data_dir)

    def complaint(self) -> dict:
        [complaint] = self.store().complaints()
        return complaint

    def report(self, subject: str = "Chain snatched near Behala Chowrasta",
               body: str = "Two men on a bike snatched my chain at 8 pm.") -> tuple:
        self.deliver(resident_mail(RESIDENT, self.bhl.address, subject, body, "r0@yahoo"))
        self.poll()
        [ack] = self.received(RESIDENT)
        [notification] = self.received(OFFICER)
        return ack, notification

    def reply(self, sender: str, to_mail, body: str, keep_headers: bool = True,
              extra: str = "", station: StationAccount | None = None) -> None:
        """A reply as a mail client writes it: commands on top, the quote below."""
        self.count += 1
        quoted = "\n".join(f"> {line}" for line in to_mail.get_content().splitlines()[:5])
        text = f"{body}\n\nOn Mon, 23 Nov 2026 at 10:05, Behala PS wrote:\n{quoted}\n"
        threading = (f"In-Reply-To: {to_mail['Message-ID']}\n"
                     f"References: {to_mail['Message-ID']}\n") if keep_headers else ""
        self.deliver(resident_mail(sender, (station or self.bhl).address,
                                   f"Re: {to_mail['Subject']}", text,
                                   f"reply{self.count}@client.test", extra=threading + extra),
                     station)


@pytest.fixture
def desk(tmp_path, dovecot, mailbox_user, smtp) -> Desk:
    return Desk(tmp_path, dovecot, mailbox_user, smtp)


def test_report_progress_close_and_reopen_by_mail(desk):
    ack, notification = desk.report()
    code = desk.complaint()["code"]
    assert f"[{code}]" in notification["Subject"]

    desk.reply(OFFICER, notification, "#progress A team is checking the CCTV at the crossing.")
    desk.poll()
    [update] = desk.received(RESIDENT)
    assert code in update["Subject"] and "CCTV" in update.get_content()
    [confirm] = desk.received(OFFICER)
    assert "#progress" in confirm.get_content()
    complaint = desk.complaint()
    assert complaint["status"] == "in_process" and complaint["first_action_at"]

    desk.reply(OFFICER, notification, "#close The chain was recovered and returned.")
    desk.poll()
    [closure] = desk.received(RESIDENT)
    assert "recovered" in closure.get_content()
    assert desk.complaint()["status"] == "closed"

    desk.reply(RESIDENT, closure, "It was not my chain, it is still missing!")
    desk.poll()
    assert desk.complaint()["status"] == "in_process"
    assert len(desk.received(OFFICER)) == 1  # the officers hear it was reopened
    assert len(desk.received(RESIDENT)) == 1  # and the resident that it is open again
    actions = [e["action"] for e in desk.store().events(desk.complaint()["id"])]
    assert actions[-3:] == ["progress", "closed", "reopened"]


def test_incomplete_then_the_residents_answer_returns_it_to_process(desk):
    _, notification = desk.report()
    desk.reply(OFFICER, notification, "#incomplete Please send the bike's number if you saw it")
    desk.poll()
    [request] = desk.received(RESIDENT)
    assert "number" in request.get_content()
    assert desk.complaint()["status"] == "incomplete_info"
    desk.reply(RESIDENT, request, "It was WB 02 AB 1234.")
    desk.poll()
    assert desk.complaint()["status"] == "in_process"
    [note] = desk.received(OFFICER)
    assert "WB 02 AB 1234" in note.get_content()


def test_a_reply_that_lost_its_threading_headers_still_matches_by_code(desk):
    _, notification = desk.report()
    desk.reply(OFFICER, notification, "#urgent the accused is still in the area",
               keep_headers=False)
    desk.poll()
    complaint = desk.complaint()
    assert complaint["urgency"] == "urgent"
    [event] = [e for e in desk.store().events(complaint["id"]) if e["action"] == "reclassified"]
    assert event["actor"] == OFFICER and event["detail"]["to"] == "urgent"


def test_unknown_command_gets_help_and_changes_nothing(desk):
    _, notification = desk.report()
    before = desk.complaint()
    desk.reply(OFFICER, notification, "#clsoe done")
    desk.poll()
    [help_reply] = desk.received(OFFICER)
    assert "#close" in help_reply.get_content()
    after = desk.complaint()
    assert after["status"] == before["status"] and desk.received(RESIDENT) == []


def test_transfer_and_forward(desk):
    _, notification = desk.report()
    desk.reply(OFFICER, notification, "#forward KMC the street light is broken\n"
                                      "#transfer LKT happened in their area")
    desk.poll()
    complaint = desk.complaint()
    [to_agency] = desk.received("grievance@kmc.test")
    assert complaint["code"] in to_agency["Subject"] + to_agency.get_content()
    assert complaint["station"] == "LKT" and complaint["status"] == "transferred"
    assert len(desk.received(OTHER_OFFICER)) == 1  # Lake Town's officers now own it
    told = desk.received(RESIDENT)
    assert any("LKT Police Station" in m.get_content() for m in told)


def test_status_request_detailed_for_the_filer_neutral_for_a_stranger(desk):
    desk.report()
    code = desk.complaint()["code"]
    desk.deliver(resident_mail(RESIDENT, desk.bhl.address, f"STATUS {code}", "", "s1@yahoo"))
    desk.deliver(resident_mail("stranger@gmail.com", desk.bhl.address, f"STATUS {code}", "",
                               "s2@gmail"))
    desk.poll()
    [mine] = desk.received(RESIDENT)
    [theirs] = desk.received("stranger@gmail.com")
    assert code in mine.get_content()
    assert "Chain snatched" not in theirs.get_content() and "acknowledged" not in \
        theirs.get_content()


# -- spoofing: none of these may change anything ------------------------------------------------

def _unchanged(desk, before) -> None:
    after = desk.complaint()
    for field in ("status", "urgency", "station", "closed_at", "first_action_at"):
        assert after[field] == before[field], field
    assert desk.received(RESIDENT) == []


def test_a_code_typed_into_a_strangers_subject_changes_nothing(desk):
    _, notification = desk.report()
    before = desk.complaint()
    desk.reply("stranger@gmail.com", notification, "#close nothing happened")
    desk.poll()
    _unchanged(desk, before)


def test_an_officer_of_another_station_changes_nothing(desk):
    _, notification = desk.report()
    before = desk.complaint()
    desk.reply(OTHER_OFFICER, notification, "#close not ours")
    desk.poll()
    _unchanged(desk, before)


@pytest.mark.parametrize("header", [
    "",  # no Authentication-Results at all: a resident forging the officer's From
    "Authentication-Results: mx.maildesk.test; dkim=fail header.d=maildesk.test; spf=fail "
    "smtp.mailfrom=maildesk.test",
    "Authentication-Results: mx.evil.example; dkim=pass header.d=maildesk.test",
])
def test_without_a_passing_verdict_from_the_stations_server_nothing_changes(
        tmp_path, dovecot, mailbox_user, smtp, header):
    desk = Desk(tmp_path, dovecot, mailbox_user, smtp)
    desk.config = _strict(desk)
    _, notification = desk.report()
    before = desk.complaint()
    desk.reply(OFFICER, notification, "#close done", extra=header)
    desk.poll()
    _unchanged(desk, before)
    assert desk.store().query("SELECT count(*) AS n FROM messages WHERE kind = 'refused'")[0][
        "n"] == 1


def test_with_a_passing_verdict_the_officer_acts(tmp_path, dovecot, mailbox_user, smtp):
    desk = Desk(tmp_path, dovecot, mailbox_user, smtp)
    desk.config = _strict(desk)
    _, notification = desk.report()
    desk.reply(OFFICER, notification, "#close recovered",
               extra="Authentication-Results: mx.maildesk.test; dkim=pass "
                     "header.d=maildesk.test; spf=pass smtp.mailfrom=si.mukherjee@maildesk.test")
    desk.poll()
    assert desk.complaint()["status"] == "closed"


def _strict(desk: Desk):
    from dataclasses import replace

    stations = tuple(replace(s, require_authentication=True,
                             trusted_authserv_id="mx.maildesk.test")
                     for s in desk.config.stations)
    return replace(desk.config, stations=stations)


def test_overrides_list_reclassifications_with_the_reasons_behind_them(desk):
    from maildesk.desk import Desk as Open
    from maildesk.reports.cli_views import overrides

    _, notification = desk.report()
    desk.reply(OFFICER, notification, "#urgent the accused is armed and nearby")
    desk.poll()
    code, reasons = desk.complaint()["code"], desk.complaint()["reasons"]
    opened = Open.open(desk.config)
    lines = overrides(opened, 10)
    opened.close()
    assert lines[0].startswith(f"{code}  ") and "-> urgent" in lines[0]
    assert "armed and nearby" in lines[0] and OFFICER in lines[0]
    assert [line.strip() for line in lines[1:]] == reasons  # the phrases that had decided it


def test_a_status_answer_shows_the_filer_no_internal_notes(desk):
    _, notification = desk.report()
    desk.reply(OFFICER, notification, "#note the complainant's neighbour is a suspect")
    desk.poll()
    code = desk.complaint()["code"]
    desk.deliver(resident_mail(RESIDENT, desk.bhl.address, f"STATUS {code}", "", "s3@yahoo"))
    desk.poll()
    [answer] = desk.received(RESIDENT)
    assert code in answer.get_content()
    assert "suspect" not in answer.get_content() and "note" not in answer.get_content()


def test_a_reply_starting_with_status_but_saying_more_reaches_the_officers(desk):
    ack, _ = desk.report()
    desk.reply(RESIDENT, ack, "Status: still nobody came, and now the same men are back "
                              "outside our gate threatening my son.")
    desk.poll()
    [note] = desk.received(OFFICER)
    assert "threatening my son" in note.get_content()
