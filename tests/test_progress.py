"""Long operations show progress on a terminal and stay quiet in a pipe: `maildesk backup`
and `maildesk restore` of a desk that took mail in through Dovecot, run as a person at a
terminal runs them (a pseudo-terminal) and as cron runs them (pipes)."""

from __future__ import annotations

import os
import subprocess
import sys

from deskenv import resident_mail
from terminal import run_on_pty

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
