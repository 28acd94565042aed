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
from maildesk.store.db import Store
from maildesk.sweeps.escalate import escalate_once, sweep

OFFICER = "si.mukherjee@maildesk.test"
DCP = "dcp.ne@maildesk.test"
ADMIN = "itcell@maildesk.test"


@pytest.fixture
def world(conversation):
    c = conversation
    return c.config, c.bhl, FakeClock(), c.dovecot, c.smtp


def subjects(smtp, address: str) -> list[str]:
    return [str(parse(m.data)["Subject"]) for m in smtp.messages if address in m.rcpt_tos]


def escalate(config, clock):
    return asyncio.run(escalate_once(config, clock))


def test_an_urgent_complaint_nobody_touches(world):
    config, bhl, clock, dovecot, smtp = world
    dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
    asyncio.run(poll_once(config, clock))
    smtp.clear()

    clock.advance(timedelta(minutes=29))
    assert escalate(config, clock)[0].sent == []  # the 30 minutes are not over

    clock.advance(timedelta(minutes=2))
    escalate(config, clock)
    assert any("No officer action yet" in s for s in subjects(smtp, OFFICER))
    assert any(s.startswith("[ALERT]") for s in subjects(smtp, DCP))  # urgent: the DCP at once
    escalate(config, clock)  # a second sweep at the same moment sends nothing new
    assert len(smtp.messages) == 2

    clock.advance(timedelta(hours=1))
    escalate(config, clock)
    assert sum(s.startswith("[REMINDER]") for s in subjects(smtp, DCP)) == 1

    # The officer acts: the reminders stop.
    [note] = [parse(m.data) for m in smtp.messages if "[ALERT]" in parse(m.data)["Subject"]]
    dovecot.append(bhl.user, resident_mail(
        OFFICER, bhl.address, f"Re: {note['Subject']}", "#progress Fire brigade on the spot.",
        "o1@client.test", extra=f"In-Reply-To: {note['Message-ID']}"))
    asyncio.run(poll_once(config, clock))
    smtp.clear()
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        escalate(config, clock)
    assert smtp.messages == []


def test_a_restart_in_the_middle_of_a_sweep_sends_no_alert_twice(world, monkeypatch):
    config, bhl, clock, dovecot, smtp = world
    for name in ("en_urgent_fire.eml", "hi_theft.eml", "mr_noise.eml"):
        dovecot.append(bhl.user, fixture(name))
    asyncio.run(poll_once(config, clock))
    clock.advance(timedelta(days=30))  # everything is late
    real = maildesk.sweeps.escalate.queue_alert
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("the daemon is killed here")
        return real(*args, **kwargs)

    monkeypatch.setattr(maildesk.sweeps.escalate, "queue_alert", crash_on_third)
    desk = Desk.open(config, clock)
    with pytest.raises(KeyboardInterrupt):
        sweep(desk)
    desk.close()
    monkeypatch.setattr(maildesk.sweeps.escalate, "queue_alert", real)
    smtp.clear()

    escalate(config, clock)  # the restarted daemon's sweep
    escalate(config, clock)  # and the next one

    store = Store(config.data_dir)
    keys = [r["key"] for r in store.query("SELECT key FROM escalations")]
    assert len(keys) == len(set(keys))
    sent = [r for r in store.query("SELECT * FROM outbox WHERE kind LIKE 'alert_%'")]
    assert len(sent) == len(keys)  # one mail per alert: none lost with the crash, none twice
    assert len({(r["kind"], r["complaint_id"]) for r in sent}) == len(sent)


def test_smtp_down_for_90_minutes(world):
    config, bhl, clock, dovecot, smtp = world
    dovecot.append(bhl.user, fixture("mr_noise.eml"))
    smtp.stop()
    asyncio.run(poll_once(config, clock))
    for minutes in (30, 31):  # the hour passes with the acknowledgement still queued
        clock.advance(timedelta(minutes=minutes))
        escalate(config, clock)
    smtp.start()
    clock.advance(timedelta(minutes=29))  # 90 minutes: SMTP is back
    escalate(config, clock)
    escalate(config, clock)

    assert len(subjects(smtp, ADMIN)) == 1 and "within the hour" in subjects(smtp, ADMIN)[0]
    store = Store(config.data_dir)
    [complaint] = store.complaints()
    assert complaint["acknowledged_at"] is not None
    assert store.outbox_counts() == {"sent": 3}  # acknowledgement, notification, admin alert


def test_a_mailbox_with_a_wrong_password_alerts_once_and_says_when_it_recovered(world):
    config, bhl, clock, dovecot, smtp = world
    good = config
    bad = replace(config, stations=(replace(config.stations[0], imap=replace(
        config.stations[0].imap, password="wrong")),))
    asyncio.run(poll_once(bad, clock))
    clock.advance(timedelta(minutes=10))
    asyncio.run(poll_once(bad, clock))
    assert escalate(bad, clock)[1].alerts == []  # 10 minutes: not yet
    clock.advance(timedelta(minutes=6))
    asyncio.run(poll_once(bad, clock))
    escalate(bad, clock)
    escalate(bad, clock)
    down = [s for s in subjects(smtp, ADMIN) if "cannot be reached" in s]
    assert len(down) == 1 and len(subjects(smtp, DCP)) == 1

    asyncio.run(poll_once(good, clock))
    escalate(good, clock)
    escalate(good, clock)
    assert sum("working again" in s for s in subjects(smtp, ADMIN)) == 1


def test_a_mailbox_that_goes_silent(world):
    config, bhl, clock, dovecot, smtp = world
    dovecot.append(bhl.user, fixture("mr_noise.eml"))
    asyncio.run(poll_once(config, clock))
    smtp.clear()
    clock.advance(timedelta(hours=23))
    asyncio.run(poll_once(config, clock))
    assert escalate(config, clock)[1].alerts == []
    clock.advance(timedelta(hours=2))
    asyncio.run(poll_once(config, clock))
    escalate(config, clock)
    escalate(config, clock)
    assert sum("No mail for" in s for s in subjects(smtp, ADMIN)) == 1

    dovecot.append(bhl.user, fixture("hi_theft.eml"))
    asyncio.run(poll_once(config, clock))
    escalate(config, clock)
    assert sum("working again" in s for s in subjects(smtp, ADMIN)) == 1


def test_the_daemons_sweep_sends_alerts_and_each_mornings_digest_once(world):
    from maildesk.daemon import Daemon

    config, bhl, clock, dovecot, smtp = world
    dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
    asyncio.run(poll_once(config, clock))  # 04:30 UTC is 10:00 IST: the day's digest is due
    clock.advance(timedelta(hours=1))
    daemon = Daemon(config, None, clock)
    try:
        first, again = daemon._sweep_now(), daemon._sweep_now()
    finally:
        daemon.desk.close()
        daemon.pool.shutdown()
    assert first == 3 and again == 0  # officers' reminder, DCP alert, digest; then nothing new
    store = Store(config.data_dir)
    assert [r["zone"] for r in store.query("SELECT zone FROM digests")] == ["KOL-NE"]
    kinds = sorted(r["kind"] for r in store.query("SELECT kind FROM outbox WHERE status = "
                                                   "'pending'"))
    assert kinds == ["alert_dcp", "alert_officers", "digest"]


def test_a_forged_bounce_naming_the_dcp_does_not_silence_the_alerts(world):
    config, bhl, clock, dovecot, smtp = world
    bounce = fixture("bounce_dsn.eml").replace(b"Ramesh.Kumar1975@rediffmail.com", DCP.encode())
    dovecot.append(bhl.user, bounce)
    dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
    asyncio.run(poll_once(config, clock))
    clock.advance(timedelta(minutes=31))
    escalate(config, clock)
    assert any(s.startswith("[ALERT]") for s in subjects(smtp, DCP))
    store = Store(config.data_dir)
    assert store.query("SELECT address FROM undeliverable") == []
    assert store.query("SELECT kind FROM messages WHERE kind = 'bounce'")  # still recorded
