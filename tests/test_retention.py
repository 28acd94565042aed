"""Retention: the daemon's sweep removes the raw mails and attachments of complaints closed
longer ago than `retention_days`, keeps everything else, and keeps the records."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import yaml
from deskenv import StationAccount, config_for, fixture, write_config

from maildesk.clock import FakeClock, to_iso
from maildesk.config.settings import load_config
from maildesk.daemon import Daemon, poll_once
from maildesk.errors import ConfigError
from maildesk.store.db import Store


def test_the_sweep_removes_files_of_long_closed_complaints_only(tmp_path, dovecot,
                                                                mailbox_user, smtp):
    bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password)
    config = config_for(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port), [bhl],
                        retention_days=30)
    assert config.retention_days == 30
    clock = FakeClock()
    for name in ("with_attachment.eml", "en_urgent_fire.eml", "hi_theft.eml"):
        dovecot.append(bhl.user, fixture(name))
    asyncio.run(poll_once(config, clock))
    store = Store(config.data_dir, clock)
    complaints = sorted(store.complaints(), key=lambda c: c["id"])
    assert len(complaints) == 3
    old, recent, still_open = complaints
    messages = {c["id"]: store.complaint_messages(c["id"]) for c in complaints}
    attachments = store.attachments(messages[old["id"]][0]["id"])
    assert attachments  # the mail with an attachment is the one that will go
    closed_long_ago = to_iso(clock.now() - timedelta(days=31))
    store.set_complaint(old["id"], status="closed", closed_at=closed_long_ago)
    store.set_complaint(recent["id"], status="closed", closed_at=to_iso(clock.now()))
    store.close()

    daemon = Daemon(config, None, clock)
    try:
        daemon._sweep_now()
        daemon._sweep_now()  # again: nothing more to do, nothing breaks
        store = daemon.desk.store
        [gone] = messages[old["id"]]
        assert not store.blob_path(gone["sha256"]).exists()
        assert not store.blob_path(attachments[0]["sha256"], "attachments").exists()
        assert store.complaint_messages(old["id"])[0]["purged_at"] is not None
        assert store.complaint(old["id"])["subject"] == old["subject"]  # the record stays
        for kept in (recent, still_open):
            for message in messages[kept["id"]]:
                assert store.read_raw(message["sha256"])
                assert store.complaint_messages(kept["id"])[0]["purged_at"] is None
    finally:
        daemon.desk.close()


def test_a_file_shared_with_a_kept_mail_stays(tmp_path):
    clock = FakeClock()
    store = Store(tmp_path / "data", clock)
    sha = store.save_raw(b"Subject: the same bytes twice\r\n\r\nbody\r\n")
    ids = []
    for n in range(2):
        complaint = store.add_complaint(code=f"BHL-2611-000{n + 1}", station="BHL",
                                        urgency="non_urgent", status="received", subject="s",
                                        resident_addr="r@example.in")
        store.add_message(station="BHL" if n == 0 else "LKT", dedupe_key="same", sha256=sha,
                          size=1, kind="new", complaint_id=complaint)
        ids.append(complaint)
    store.set_complaint(ids[0], status="closed", closed_at=to_iso(clock.now()))
    clock.advance(timedelta(days=2))
    assert store.purge_closed(clock.now() - timedelta(days=1)) == {"messages": 1, "files": 0}
    assert store.read_raw(sha)
    store.set_complaint(ids[1], status="closed", closed_at=to_iso(clock.now()))
    clock.advance(timedelta(days=2))
    assert store.purge_closed(clock.now() - timedelta(days=1)) == {"messages": 1, "files": 1}
    assert not store.blob_path(sha).exists()
    store.close()


def test_retention_days_is_checked(tmp_path):
    path, env = write_config(tmp_path, ("127.0.0.1", 143), ("127.0.0.1", 25),
                             [StationAccount("BHL", "u", "p")])
    assert load_config(path, env=env).retention_days == 0  # the default keeps everything
    data = yaml.safe_load(path.read_text())
    data["maildesk"]["retention_days"] = -1
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="retention_days: expected a whole number"):
        load_config(path, env=env)
