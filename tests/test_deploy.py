"""The deploy guide's "done when", as a test: docs/deploy.md followed on this machine (where
systemd is not PID 1) brings up a watched service against the session's Dovecot and SMTP
recorder; a reload with a broken stations.yaml keeps it running on the old configuration;
a backup taken while mail arrives restores to a desk where every mail is one complaint and
only the residents the backup had not answered are answered (again).

The steps and their checks are in tests/walkthrough.py, which also prints them for a
person (`.venv/bin/python tests/walkthrough.py`); the unit's systemd-analyze checks are in
test_systemd.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from deskenv import StationAccount
from walkthrough import Walkthrough, walk


@pytest.mark.timeout(600)  # a pip install into a fresh venv, two starts, 150 mails
def test_the_deploy_guide_brings_up_a_watched_service_that_reloads_and_restores(
        dovecot, mailbox_user, smtp):
    lkt = dovecot.add_user(f"{mailbox_user.name}lkt", "lkt-password")
    stations = [StationAccount("BHL", mailbox_user.name, mailbox_user.password),
                StationAccount("LKT", lkt.name, lkt.password)]
    # Not pytest's tmp_path: as root, the service user must reach the program and its files,
    # and pytest's temporary folders are closed to others.
    root = Path(tempfile.mkdtemp(prefix="maildesk-deploy-", dir="/tmp" if os.geteuid() == 0
                                 else None))
    try:
        walk(Walkthrough(root, dovecot, smtp, stations), analyze=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
