"""Shared fixtures: a real Dovecot IMAP server and a recording SMTP server (tests/servers.py)."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ is not a package: pytest puts this directory on sys.path for conftest.py ("prepend"
# import mode), so the helper module is importable as plain `servers`.
from servers import Dovecot, MailboxUser, SmtpRecorder, find_dovecot

INSTALL_HINT = (
    "install it with `apt-get install dovecot-imapd` (Debian/Ubuntu; dovecot-core comes "
    "along), or run scripts/test, which installs what the tests need"
)


def _open_for_dovecot(basetemp: Path) -> None:
    """Let Dovecot's unprivileged processes traverse pytest's temp dirs (root only).

    As root, Dovecot must keep mail as a non-root user (see :class:`Dovecot`), but pytest
    creates its temp dirs 0700.  Add search permission (not read) for others on the two
    levels pytest owns; pytest itself re-tightens pytest-of-<user> on its next run.
    """
    for directory in (basetemp.parent, basetemp):
        mode = stat.S_IMODE(directory.stat().st_mode)
        directory.chmod(mode | 0o011)


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    """A private Dovecot for the whole session (users are per test: see ``mailbox_user``)."""
    if find_dovecot() is None:
        message = f"dovecot-imapd is not installed: {INSTALL_HINT}"
        if os.environ.get("CI"):
            # In CI a missing server must fail loudly, never turn into silently skipped tests.
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if os.geteuid() == 0:
        _open_for_dovecot(tmp_path_factory.getbasetemp())
    server = Dovecot.start(tmp_path_factory.mktemp("dovecot"))
    try:
        yield server
    finally:
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
