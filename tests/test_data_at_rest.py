"""Data at rest and logs (issue 11): what the desk keeps on disk is readable by the service
user only, and no log line at any level carries a password, a token or a complaint's words.
Real Dovecot and SMTP, a real poll, logging at DEBUG."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import stat

import yaml
from deskenv import StationAccount, resident_mail, write_config

from maildesk.cli import _setup_logging
from maildesk.config.settings import load_config
from maildesk.daemon import poll_once

RESIDENT = "amit.sharma@yahoo.co.in"


def test_stored_files_are_readable_by_the_service_user_only(conversation):
    conversation.deliver(resident_mail(RESIDENT, conversation.bhl.address, "Chain snatched",
                                       "Two men on a bike snatched my chain.", "rest1@yahoo"))
    conversation.poll()
    data_dir = conversation.config.data_dir
    assert conversation.store().complaints()  # there is something at rest to look at
    seen = []
    for root, dirs, files in os.walk(data_dir):
        for name in [*dirs, *files, "."]:
            path = os.path.join(root, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            seen.append(path)
            assert mode & 0o077 == 0, f"{path} is open to others: {oct(mode)}"
    names = {os.path.basename(p) for p in seen}
    assert "maildesk.db" in names and len(seen) > 5  # the database and the mail files


def test_no_secret_and_no_complaint_text_in_any_log_line(tmp_path, dovecot, mailbox_user, smtp,
                                                         caplog):
    password = f"pw-{secrets.token_hex(12)}"
    wrong = f"wrong-{secrets.token_hex(12)}"  # a station whose login fails: the error path
    token = f"tok-{secrets.token_hex(16)}"  # an XOAUTH2 token Dovecot refuses
    user = dovecot.add_user(f"rest{secrets.token_hex(3)}", password)
    other = dovecot.add_user(f"rest{secrets.token_hex(3)}", f"right-{secrets.token_hex(6)}")
    stations = [StationAccount("BHL", user.name, password, ("si.mukherjee@maildesk.test",)),
                StationAccount("LKT", other.name, wrong, ("si.ghosh@maildesk.test",))]
    path, env = write_config(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                             stations)
    data = yaml.safe_load(path.read_text())
    oauth = dict(data["stations"][0], code="SLT", address="slt.ps@maildesk.test",
                 imap={"user": other.name, "auth": "xoauth2", "token_env": "SLT_TOKEN"})
    data["stations"].append(oauth)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    config = load_config(path, env={**env, "SLT_TOKEN": token})

    words = f"kumquat{secrets.token_hex(4)}"  # the resident's own words, found nowhere else
    subject = f"Threatened by neighbour {words}"
    body = f"My neighbour {words} threatens to burn my shop tonight."
    dovecot.append(user.name, resident_mail(RESIDENT, stations[0].address, subject, body,
                                            "rest2@yahoo"))
    dovecot.append(user.name, b"From: x@y.in\r\nSubject: broken " + words.encode() +
                   b"\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\n" +
                   words.encode() * 3)
    # Logging as `maildesk -v` sets it up (DEBUG), every record captured.
    noisy = ("apscheduler", "imapclient", "aiosmtplib", "mail.log")
    levels = {name: logging.getLogger(name).level for name in noisy}
    caplog.set_level(logging.DEBUG)
    _setup_logging(verbose=True)
    try:
        report = asyncio.run(poll_once(config))
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)

    assert [p.fetched for p in report.passes if p.station == "BHL"] == [2]
    assert sum(1 for p in report.passes if p.error) == 2  # the wrong password, the token
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.levelno >= logging.WARNING for r in caplog.records)  # the failing logins
    lines = [caplog.handler.format(r) for r in caplog.records]
    lines += [str(r.args) for r in caplog.records]
    for secret in (password, wrong, token, words, body):
        leaks = [line[:200] for line in lines if secret in line]
        assert leaks == [], f"{secret[:12]}... in the log"
