"""Escalation on simulated time: real Dovecot and SMTP, a FakeClock moved by the test.

Each scenario is what a DCP and a station would live through: an urgent complaint nobody
touches, a restart in the middle of a sweep, SMTP down for 90 minutes, a mailbox with a wrong
password, a mailbox that goes silent.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from deskenv import fixture, parse, resident_mail

import maildesk.sweeps.escalate
from maildesk.clock import FakeClock
from maildesk.daemon import poll_once
from maildesk.desk import Desk
from maildesk.sweeps.escalate import escalate_once, sweep

OFFICER = "si.mukherjee@maildesk.test"
DCP = "dcp.ne@maildesk.test"
ADMIN = "itcell@maildesk.test"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def escalate(config, clock):
    return asyncio.run(escalate_once(config, clock))


def test_an_urgent_complaint_nobody_touches(conversation, clock):
    c = conversation
    c.deliver(fixture("en_urgent_fire.eml"))
    c.poll(clock, clear=False)
    c.smtp.clear()

    clock.advance(timedelta(minutes=29))
    assert escalate(c.config, clock)[0].sent == []  # the 30 minutes are not over

    clock.advance(timedelta(minutes=2))
    escalate(c.config, clock)
    assert any("No officer action yet" in s for s in c.subjects(OFFICER))
    assert any(s.startswith("[ALERT]") for s in c.subjects(DCP))  # urgent: the DCP at once
    escalate(c.config, clock)  # a second sweep at the same moment sends nothing new
    assert len(c.smtp.messages) == 2

    clock.advance(timedelta(hours=1))
    escalate(c.config, clock)
    assert sum(s.startswith("[REMINDER]") for s in c.subjects(DCP)) == 1

    # The officer acts: the reminders stop.
    [note] = [mail for mail in map(parse, (m.data for m in c.smtp.messages))
              if "[ALERT]" in mail["Subject"]]
    c.deliver(resident_mail(
        OFFICER, c.bhl.address, f"Re: {note['Subject']}", "#progress Fire brigade on the spot.",
        "o1@client.test", extra=f"In-Reply-To: {note['Message-ID']}"))
    c.poll(clock, clear=False)
    c.smtp.clear()
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        escalate(c.config, clock)
    assert c.smtp.messages == []


def test_a_restart_in_the_middle_of_a_sweep_sends_no_alert_twice(conversation, clock, monkeypatch):
    c = conversation
    for name in ("en_urgent_fire.eml", "hi_theft.eml", "mr_noise.eml"):
        c.deliver(fixture(name))
    c.poll(clock, clear=False)
    clock.advance(timedelta(days=30))  # everything is late
    real = maildesk.sweeps.escalate.queue_alert
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("the daemon is killed here")
        return real(*args, **kwargs)

    monkeypatch.setattr(maildesk.sweeps.escalate, "queue_alert", crash_on_third)
    desk = Desk.open(c.config, clock)
    with pytest.raises(KeyboardInterrupt):
        sweep(desk)
    desk.close()
    monkeypatch.setattr(maildesk.sweeps.escalate, "queue_alert", real)
    c.smtp.clear()

    escalate(c.config, clock)  # the restarted daemon's sweep
    escalate(c.config, clock)  # and the next one

    store = c.store()
    keys = [r["key"] for r in store.query("SELECT key FROM escalations")]
    assert len(keys) == len(set(keys))
    sent = [r for r in store.query("SELECT * FROM outbox WHERE kind LIKE 'alert_%'")]
    assert len(sent) == len(keys)  # one mail per alert: none lost with the crash, none twice
    assert len({(r["kind"], r["complaint_id"]) for r in sent}) == len(sent)


def test_smtp_down_for_90_minutes(conversation, clock):
    c = conversation
    c.deliver(fixture("mr_noise.eml"))
    c.smtp.stop()
    c.poll(clock, clear=False)
    for minutes in (30, 31):  # the hour passes with the acknowledgement still queued
        clock.advance(timedelta(minutes=minutes))
        escalate(c.config, clock)
    c.smtp.start()
    clock.advance(timedelta(minutes=29))  # 90 minutes: SMTP is back
    escalate(c.config, clock)
    escalate(c.config, clock)

    assert len(c.subjects(ADMIN)) == 1 and "within the hour" in c.subjects(ADMIN)[0]
    store = c.store()
    [complaint] = store.complaints()
    assert complaint["acknowledged_at"] is not None
    assert store.outbox_counts() == {"sent": 3}  # acknowledgement, notification, admin alert


def test_a_mailbox_with_a_wrong_password_alerts_once_and_says_when_it_recovered(
        conversation, clock):
    c = conversation
    good = c.config
    bad = replace(good, stations=(replace(good.stations[0], imap=replace(
        good.stations[0].imap, password="wrong")),))
    asyncio.run(poll_once(bad, clock))
    clock.advance(timedelta(minutes=10))
    asyncio.run(poll_once(bad, clock))
    assert escalate(bad, clock)[1].alerts == []  # 10 minutes: not yet
    clock.advance(timedelta(minutes=6))
    asyncio.run(poll_once(bad, clock))
    escalate(bad, clock)
    escalate(bad, clock)
    down = [s for s in c.subjects(ADMIN) if "cannot be reached" in s]
    assert len(down) == 1 and len(c.subjects(DCP)) == 1

    asyncio.run(poll_once(good, clock))
    escalate(good, clock)
    escalate(good, clock)
    assert sum("working again" in s for s in c.subjects(ADMIN)) == 1


def test_a_mailbox_that_goes_silent(conversation, clock):
    c = conversation
    c.deliver(fixture("mr_noise.eml"))
    c.poll(clock, clear=False)
    c.smtp.clear()
    clock.advance(timedelta(hours=23))
    c.poll(clock, clear=False)
    assert escalate(c.config, clock)[1].alerts == []
    clock.advance(timedelta(hours=2))
    c.poll(clock, clear=False)
    escalate(c.config, clock)
    escalate(c.config, clock)
    assert sum("No mail for" in s for s in c.subjects(ADMIN)) == 1

    c.deliver(fixture("hi_theft.eml"))
    c.poll(clock, clear=False)
    escalate(c.config, clock)
    assert sum("working again" in s for s in c.subjects(ADMIN)) == 1


def test_the_daemons_sweep_sends_alerts_and_each_mornings_digest_once(conversation, clock):
    from maildesk.daemon import Daemon

    c = conversation
    c.deliver(fixture("en_urgent_fire.eml"))
    c.poll(clock, clear=False)  # 04:30 UTC is 10:00 IST: the day's digest is due
    clock.advance(timedelta(hours=1))
    daemon = Daemon(c.config, None, clock)
    try:
        first, again = daemon._sweep_now(), daemon._sweep_now()
    finally:
        daemon.desk.close()
        daemon.pool.shutdown()
    assert first == 3 and again == 0  # officers' reminder, DCP alert, digest; then nothing new
    store = c.store()
    assert [r["zone"] for r in store.query("SELECT zone FROM digests")] == ["KOL-NE"]
    kinds = sorted(r["kind"] for r in store.query("SELECT kind FROM outbox WHERE status = "
                                                   "'pending'"))
    assert kinds == ["alert_dcp", "alert_officers", "digest"]


def test_a_forged_bounce_naming_the_dcp_does_not_silence_the_alerts(conversation, clock):
    c = conversation
    bounce = fixture("bounce_dsn.eml").replace(b"Ramesh.Kumar1975@rediffmail.com", DCP.encode())
    c.deliver(bounce)
    c.deliver(fixture("en_urgent_fire.eml"))
    c.poll(clock, clear=False)
    clock.advance(timedelta(minutes=31))
    escalate(c.config, clock)
    assert any(s.startswith("[ALERT]") for s in c.subjects(DCP))
    store = c.store()
    assert store.query("SELECT address FROM undeliverable") == []
    assert store.query("SELECT kind FROM messages WHERE kind = 'bounce'")  # still recorded
