"""`maildesk check` logs in everywhere and says, station by station, what works."""

from __future__ import annotations

import os
import subprocess
import sys

from deskenv import StationAccount, write_config


def test_check_prints_a_table_and_fails_on_a_bad_mailbox(tmp_path, dovecot, mailbox_user, smtp):
    good = StationAccount("BHL", mailbox_user.name, mailbox_user.password)
    bad = StationAccount("LKT", mailbox_user.name, "wrong-password")
    path, env = write_config(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                             [good, bad])
    done = subprocess.run([sys.executable, "-m", "maildesk", "--config", str(path), "check"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()[2:]}
    assert "ok (0 waiting, IDLE)" in lines["BHL"] and lines["BHL"].rstrip().endswith("ok")
    assert "FAILED" in lines["LKT"] and "login refused" in lines["LKT"]
    assert "wrong-password" not in done.stdout + done.stderr  # secrets never printed
    # the shipped triage policy, and what the station's own rules file adds to it
    assert "triage/policy.yaml, with " in done.stdout and "rules.yaml:" in done.stdout


def test_status_and_backup_after_a_pass(tmp_path, dovecot, mailbox_user, smtp):
    from deskenv import fixture

    bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password, ("si@maildesk.test",))
    path, env = write_config(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                             [bhl])
    dovecot.append(bhl.user, fixture("with_attachment.eml"))

    def maildesk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "maildesk", "--config", str(path), *args],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, **env})

    assert maildesk("poll", "--once").returncode == 0
    status = maildesk("status")
    assert status.returncode == 0
    assert status.stdout.splitlines()[1].split()[0] == "BHL" and " ok" in status.stdout
    assert "outbox: 0 waiting, 2 sent, 0 failed" in status.stdout

    target = tmp_path / "backup"
    done = maildesk("backup", str(target))
    assert done.returncode == 0, done.stderr
    data = tmp_path / "data"
    originals = sorted(p.relative_to(data) for p in data.glob("*/*/*") if p.is_file())
    copies = sorted(p.relative_to(target) for p in target.glob("*/*/*") if p.is_file())
    assert originals == copies and len(originals) >= 3  # the mail and its two attachments
    import sqlite3

    backup_db = sqlite3.connect(target / "maildesk.db")
    assert backup_db.execute("SELECT count(*) FROM complaints").fetchone()[0] == 1
    backup_db.close()
    assert "0 new files" in maildesk("backup", str(target)).stdout  # only what is new
