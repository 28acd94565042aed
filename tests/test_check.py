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
