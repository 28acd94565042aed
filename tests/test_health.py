"""Exit codes for monitoring and cron: `poll --once` and `status` fail when mail could not be
read or sent, against a real Dovecot and a real SMTP server that refuses the login or is
not there at all (real subprocesses, as cron runs them)."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml
from deskenv import REPO, StationAccount, fixture, write_config
from servers import SmtpRecorder, free_port

SMTP_USER = "bhl.ps@maildesk.test"


def maildesk(config, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maildesk", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, **env})


def desk_with_mail(tmp_path, dovecot, mailbox_user, smtp_port: int, smtp_password: str):
    """BHL with one resident's mail waiting, sending as SMTP_USER with `smtp_password`."""
    bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password,
                         ("si.roy@maildesk.test",))
    path, env = write_config(tmp_path, (dovecot.host, dovecot.port), ("127.0.0.1", smtp_port),
                             [bhl])
    data = yaml.safe_load(path.read_text())
    data["stations"][0]["smtp"] = {"user": SMTP_USER, "password_env": "BHL_SMTP_PASSWORD"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
    return path, {**env, "BHL_SMTP_PASSWORD": smtp_password}


def test_poll_and_status_succeed_when_all_went_out(tmp_path, dovecot, mailbox_user):
    with SmtpRecorder(credentials={SMTP_USER: "right"}) as smtp:
        path, env = desk_with_mail(tmp_path, dovecot, mailbox_user, smtp.port, "right")
        done = maildesk(path, env, "poll", "--once")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "outbox: 2 sent, 0 to retry, 0 failed" in done.stdout
        assert len(smtp.messages) == 2
    status = maildesk(path, env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.rstrip().endswith("healthy")


def test_poll_fails_when_the_smtp_server_refuses_the_login(tmp_path, dovecot, mailbox_user):
    with SmtpRecorder(credentials={SMTP_USER: "right"}) as smtp:
        path, env = desk_with_mail(tmp_path, dovecot, mailbox_user, smtp.port, "wrong")
        done = maildesk(path, env, "poll", "--once")
        assert smtp.messages == [] and smtp.logins == []
    assert done.returncode == 1, done.stdout + done.stderr
    assert "outbox: 0 sent, 2 to retry, 0 failed" in done.stdout
    assert "SMTP login refused" in done.stderr
    assert "BHL: 1 fetched" in done.stdout  # the mail itself was taken in
    status = maildesk(path, env, "status")
    assert status.returncode == 1
    assert "UNHEALTHY: outbox: 2 mails waiting to retry after an error" in status.stdout


def test_poll_fails_when_the_smtp_server_is_not_there(tmp_path, dovecot, mailbox_user):
    path, env = desk_with_mail(tmp_path, dovecot, mailbox_user, free_port(), "any")
    done = maildesk(path, env, "poll", "--once")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 to retry" in done.stdout
    assert "outbox error: SMTP 127.0.0.1:" in done.stderr


def test_poll_and_status_fail_when_a_mailbox_cannot_be_read(tmp_path, dovecot, mailbox_user):
    with SmtpRecorder() as smtp:
        path, env = desk_with_mail(tmp_path, dovecot, mailbox_user, smtp.port, "any")
        env["BHL_PASSWORD"] = "not-the-password"
        done = maildesk(path, env, "poll", "--once")
        assert smtp.messages == []
    assert done.returncode == 1
    assert "BHL: 0 fetched" in done.stdout and "error:" in done.stdout
    status = maildesk(path, env, "status")
    assert status.returncode == 1
    assert "UNHEALTHY: station BHL: mailbox failing x1" in status.stdout


def test_status_fails_on_mail_given_up_on_recently(tmp_path, dovecot, mailbox_user):
    with SmtpRecorder() as smtp:
        smtp.fail_with(550, at="RCPT")
        path, env = desk_with_mail(tmp_path, dovecot, mailbox_user, smtp.port, "any")
        done = maildesk(path, env, "poll", "--once")
    assert done.returncode == 1
    # the acknowledgement, the notification, and the officers' notice of the failed
    # acknowledgement (tried in the same run, refused too)
    assert "0 to retry, 3 failed" in done.stdout
    status = maildesk(path, env, "status")
    assert status.returncode == 1
    assert "UNHEALTHY: outbox: 3 mails failed in the last 24 hours" in status.stdout
