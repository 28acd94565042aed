"""Shared fixtures: a real Dovecot IMAP server and a recording SMTP server (tests/servers.py)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

# tests/ is not a package: pytest puts this directory on sys.path for conftest.py ("prepend"
# import mode), so the helper module is importable as plain `servers`.
from conversation import Conversation
from needs import missing
from servers import Dovecot, MailboxUser, SmtpRecorder, find_dovecot

INSTALL_HINT = (
    "install it with `apt-get install dovecot-imapd` (Debian/Ubuntu; dovecot-core comes "
    "along), or run scripts/test, which installs what the tests need"
)


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    """A private Dovecot for the whole session (users are per test: see ``mailbox_user``)."""
    if find_dovecot() is None:
        missing(f"dovecot-imapd is not installed: {INSTALL_HINT}")
    if os.geteuid() == 0:
        # As root, Dovecot's mail and auth processes run unprivileged and cannot enter
        # pytest's 0700 temp dirs, so Dovecot makes (and removes) its own dir in /tmp.
        server = Dovecot.start()
    else:
        server = Dovecot.start(tmp_path_factory.mktemp("dovecot"))
    try:
        yield server
    finally:
        if os.geteuid() == 0 and server.log_path.exists():
            # Keep the log with pytest's other leftovers for post-mortems.
            shutil.copy(server.log_path, tmp_path_factory.mktemp("dovecot-log") / "dovecot.log")
        server.stop()


@pytest.fixture
def mailbox_user(dovecot: Dovecot) -> MailboxUser:
    """A fresh Dovecot user with empty mailboxes (no server restart needed)."""
    return dovecot.add_user(f"st{secrets.token_hex(4)}", secrets.token_hex(8))


@pytest.fixture
def smtp() -> Iterator[SmtpRecorder]:
    """A running SmtpRecorder on a free 127.0.0.1 port, stopped after the test."""
    recorder = SmtpRecorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()


@pytest.fixture
def conversation(tmp_path, dovecot: Dovecot, mailbox_user: MailboxUser,
                 smtp: SmtpRecorder) -> Conversation:
    """Two stations on the real servers: deliver mail, poll, read what each party received."""
    return Conversation(tmp_path, dovecot, mailbox_user, smtp)
