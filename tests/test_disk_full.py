"""The disk under the data directory fills up while the daemon runs (a real tmpfs of a few
megabytes, filled to the last byte by another program): mail that arrives meanwhile stays in
the INBOX, the daemon keeps running and says so once at WARNING; when space comes back every
waiting mail is stored and answered once, with nothing lost and nothing doubled.

Mounting a tmpfs needs root (CI runs as root); elsewhere the test says why it cannot run, and
in CI that is a failure, not a skip."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_daemon import open_store, running_daemon, settled, station, write_daemon_config
from test_outages import RECOVERY_LIMIT, mail, outage_lines

TMPFS_MB = 16
WAITING = 3


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """tmp_path/data on a tmpfs of TMPFS_MB megabytes, unmounted afterwards."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m,mode=0700",
                              "tmpfs", str(data)], capture_output=True, text=True)
    if mounted.returncode != 0:
        why = f"cannot mount a tmpfs here: {mounted.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem refuses another byte."""
    filler = directory / "filler"
    chunk = b"\0" * (256 * 1024)
    with open(filler, "wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    return filler


def test_disk_full_then_space_again(tmp_path, small_disk, dovecot, mailbox_user, smtp):
    bhl = station(mailbox_user)
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [bhl])
    with running_daemon(path) as daemon:
        settled(daemon, "BHL")
        mark = daemon.mark()
        filler = fill(small_disk)
        for i in range(WAITING):
            dovecot.append(bhl.user, mail(f"resident{i}@gmail.com", bhl.address, f"full{i}"))
        daemon.wait_for(r"WARNING .*outage: .*disk", mark)
        assert daemon.proc.poll() is None  # still running
        assert len(dovecot.folder_uids(bhl.user, "INBOX")) == WAITING  # nothing taken, or lost
        filler.unlink()
        freed = time.monotonic()
        daemon.wait_for(r"WARNING .*outage over after .*disk", mark)
        smtp.wait_for(2 * WAITING, timeout=60)  # an acknowledgement and a notification each
        recovery = time.monotonic() - freed
        assert daemon.stop() == 0
    print(f"\nFIGURE disk-full recovery: {recovery:.1f} s from space freed to the "
          f"{2 * WAITING} mails sent")
    begins, ends = outage_lines(daemon.lines, "disk")
    assert len(begins) == 1 and len(ends) == 1, daemon.lines
    daemon.assert_clean()
    assert dovecot.folder_uids(bhl.user, "INBOX") == []
    with open_store(tmp_path) as store:
        complaints = store.complaints()
        assert len(complaints) == WAITING
        assert sorted(c["subject"] for c in complaints) == [
            f"Theft report full{i}" for i in range(WAITING)]
        assert store.outbox_counts() == {"sent": 2 * WAITING}
    assert recovery < RECOVERY_LIMIT
