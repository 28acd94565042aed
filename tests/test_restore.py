"""Backup while intake runs against Dovecot, then `maildesk restore` to a desk that works:
every complaint and every mail of the backup is there with its raw file, and the restored
desk takes in new mail with codes that follow on."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading

import pytest
from deskenv import REPO, StationAccount, config_for, resident_mail, write_config
from servers import SmtpRecorder

from maildesk.desk import Desk
from maildesk.errors import ConfigError
from maildesk.intake.poll import BATCH, poll_station
from maildesk.store.db import Store
from maildesk.store.restore import restore

MAILS = BATCH * 3


def maildesk(config, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, **env})


def mail(i: int, to: str) -> bytes:
    return resident_mail(f"resident{i}@example.in", to, f"Water logging in lane {i}",
                         f"Lane {i} has been under water since Sunday.", f"flood{i}@example.in")


def test_backup_during_intake_restores_with_nothing_lost(tmp_path, dovecot, mailbox_user):
    bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password)
    smtp = SmtpRecorder()  # never started: the outbox only fills, which backs up too
    config = config_for(tmp_path / "live", (dovecot.host, dovecot.port),
                        (smtp.host, smtp.port), [bhl])
    with dovecot.client(bhl.user) as imap:
        for i in range(MAILS):
            imap.append("INBOX", mail(i, bhl.address))

    desk = Desk.open(config, intake=True)
    first_batch = threading.Event()
    taken: list = []

    def after_batch() -> None:
        first_batch.set()

    intake = threading.Thread(target=lambda: taken.append(
        poll_station(desk, config.station("BHL"), None, after_batch)))
    intake.start()
    try:
        assert first_batch.wait(120)
        # Another process's view, as `maildesk backup` has: its own connection, no lock.
        reader = Store(config.data_dir)
        try:
            reader.backup(tmp_path / "backup")
        finally:
            reader.close()
    finally:
        intake.join(300)
        desk.close()
    assert taken[0].error is None and taken[0].fetched == MAILS

    backup_db = sqlite3.connect(tmp_path / "backup" / "maildesk.db")
    codes = {c for (c,) in backup_db.execute("SELECT code FROM complaints")}
    shas = {s for (s,) in backup_db.execute("SELECT sha256 FROM messages")}
    backup_db.close()
    assert BATCH <= len(codes) <= MAILS  # at least the batch committed before it began

    path, env = write_config(tmp_path / "restored", (dovecot.host, dovecot.port),
                             (smtp.host, smtp.port), [bhl])
    done = maildesk(path, env, "restore", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"restored {len(codes)} complaints, {len(codes)} mails" in done.stdout

    restored = Store(tmp_path / "restored" / "data")
    try:
        assert {c["code"] for c in restored.complaints(limit=MAILS)} == codes
        for sha in shas:  # every mail as it arrived, byte for byte
            assert hashlib.sha256(restored.read_raw(sha)).hexdigest() == sha
        # BHL has no officers: one acknowledgement per complaint waits in the outbox.
        assert restored.outbox_counts() == {"pending": len(codes)}
    finally:
        restored.close()

    # A working desk: it takes in a new mail, numbers it after the restored ones, sends.
    dovecot.append(bhl.user, mail(MAILS, bhl.address))
    with smtp:
        polled = maildesk(path, env, "poll", "--once")
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "BHL: 1 fetched" in polled.stdout
    restored = Store(tmp_path / "restored" / "data")
    try:
        [newest] = restored.complaints(limit=1)
        assert newest["code"] not in codes
        assert int(newest["code"].rsplit("-", 1)[1]) == len(codes) + 1
    finally:
        restored.close()


def test_restore_refuses_a_broken_backup_and_changes_nothing(tmp_path):
    config = tmp_path / "data"
    store = Store(config)
    sha = store.save_raw(b"Subject: hello\r\n\r\nbody\r\n")
    store.add_message(station="BHL", sha256=sha, size=25, kind="new", dedupe_key="k1")
    store.backup(tmp_path / "backup")
    store.close()
    raw = next((tmp_path / "backup" / "raw").glob("*/*.eml"))
    raw.write_bytes(b"changed")
    target = tmp_path / "target"
    with pytest.raises(ConfigError, match="does not match its name"):
        restore(tmp_path / "backup", target)
    assert not (target / "maildesk.db").exists()
    raw.unlink()
    with pytest.raises(ConfigError, match="is missing from the backup"):
        restore(tmp_path / "backup", target)
    with pytest.raises(ConfigError, match="no maildesk.db here"):
        restore(tmp_path, target)


def test_restore_keeps_the_database_it_replaces(tmp_path):
    Store(tmp_path / "backup-src").backup(tmp_path / "backup")
    data = tmp_path / "data"
    live = Store(data)
    live.add_message(station="BHL", sha256="0" * 64, size=1, kind="new", dedupe_key="live")
    live.close()
    done = restore(tmp_path / "backup", data)
    assert done.kept_aside == data / "maildesk.db.before-restore"
    kept = sqlite3.connect(done.kept_aside)
    assert kept.execute("SELECT dedupe_key FROM messages").fetchall() == [("live",)]
    kept.close()
    assert done.messages == 0
