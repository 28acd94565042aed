"""Long operations show progress on a terminal and stay quiet in a pipe: `maildesk backup`
and `maildesk restore` of a desk that took mail in through Dovecot, the first `poll --once`
of a mailbox with a backlog, and `maildesk report`, run as a person at a terminal runs them
(a pseudo-terminal) and as cron runs them (pipes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime

from deskenv import resident_mail
from terminal import run_on_pty

from maildesk.intake.poll import BATCH

MAILS = 12


def _maildesk(conversation, *args: str) -> list[str]:
    return [sys.executable, "-m", "maildesk", "--config", str(conversation.config.path), *args]


def _env(conversation) -> dict[str, str]:
    return {**os.environ, "BHL_PASSWORD": conversation.bhl.password,
            "LKT_PASSWORD": conversation.lkt.password, "TERM": "xterm", "COLUMNS": "100"}


def _desk_with_mail(conversation) -> None:
    for n in range(MAILS):
        conversation.deliver(resident_mail(f"r{n}@example.in", conversation.bhl.address,
                                           f"Bicycle stolen {n}", f"My cycle number {n} was "
                                           "taken from the stand.", f"p{n}@example.in"))
    conversation.poll()


def test_backup_and_restore_show_progress_on_a_terminal(conversation, tmp_path):
    _desk_with_mail(conversation)
    code, screen = run_on_pty(_maildesk(conversation, "backup", str(tmp_path / "b1")),
                              _env(conversation), 60)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "backup: files" in text and f"{MAILS}/{MAILS}" in text
    assert "database copied to" in text

    conversation.config.data_dir.rename(tmp_path / "old-data")
    code, screen = run_on_pty(_maildesk(conversation, "restore", str(tmp_path / "b1")),
                              _env(conversation), 60)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "restore: files" in text and f"{MAILS}/{MAILS}" in text
    assert f"restored {MAILS} complaints" in text


def test_in_a_pipe_only_the_result_is_written(conversation, tmp_path):
    _desk_with_mail(conversation)
    done = subprocess.run(_maildesk(conversation, "backup", str(tmp_path / "b2")),
                          env=_env(conversation), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("database copied to") and "\r" not in done.stdout


def _backlog(conversation, mails: int) -> None:
    with conversation.dovecot.client(conversation.bhl.user) as imap:  # one connection
        for n in range(mails):
            imap.append("INBOX", resident_mail(f"r{n}@example.in", conversation.bhl.address,
                                               f"Noise at night {n}", f"Loudspeakers {n}.",
                                               f"backlog{n}@example.in"))


def test_first_poll_of_a_backlog_shows_the_mails_fetched_on_a_terminal(conversation):
    mails = BATCH + 50  # two batches: the bar moves during the pass, not only at its end
    _backlog(conversation, mails)
    code, screen = run_on_pty(_maildesk(conversation, "poll", "--once"), _env(conversation),
                              240)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "poll: mails" in text
    assert f"{BATCH}/{mails}" in text and f"{mails}/{mails}" in text
    assert f"BHL: {mails} fetched" in text


def test_poll_in_a_pipe_writes_no_bar(conversation):
    _desk_with_mail(conversation)  # taken in already: this pass finds one more
    conversation.deliver(resident_mail("late@example.in", conversation.bhl.address,
                                       "Bicycle stolen again", "Again.", "late@example.in"))
    done = subprocess.run(_maildesk(conversation, "poll", "--once"), env=_env(conversation),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BHL: 1 fetched" in done.stdout
    assert "poll: mails" not in done.stderr + done.stdout and "\r" not in done.stderr


def _month(conversation) -> str:
    """The month the complaints were taken in, in the desk's time zone (not today's date)."""
    store = conversation.store()
    try:
        created = store.complaints(limit=1)[0]["created_at"]
    finally:
        store.close()
    local = datetime.fromisoformat(created).astimezone(conversation.config.timezone)
    return local.strftime("%Y-%m")


def test_report_shows_the_complaints_tallied_on_a_terminal_only(conversation):
    _desk_with_mail(conversation)
    args = _maildesk(conversation, "report", "--month", _month(conversation), "--format", "csv")
    code, screen = run_on_pty(args, _env(conversation), 60)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "report: complaints" in text and f"{MAILS}/{MAILS}" in text
    done = subprocess.run(args, env=_env(conversation), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert re.search(rf"(?m)^[^,]*,KOL-NE,BHL,BHL Police Station,{MAILS},", done.stdout), \
        done.stdout
