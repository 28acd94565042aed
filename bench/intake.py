"""Intake end to end against a real Dovecot and SMTP server on loopback.

    .venv/bin/python bench/intake.py --mails 1000

N resident mails (variants of the fixtures in tests/mail, each with its own Message-ID) are
dropped into a station's INBOX; one `poll --once` pass takes them in, classifies, records,
acknowledges and notifies. Prints mails in, complaints, acknowledgements received by the
SMTP server, and seconds. For comparison it also times a bare loop (fetch, parse, insert
into SQLite) over the same mails. Needs dovecot-imapd (scripts/test installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from deskenv import StationAccount, config_for, resident_mail  # noqa: E402
from servers import Dovecot, find_dovecot, free_port  # noqa: E402

from maildesk.daemon import poll_once  # noqa: E402
from maildesk.intake.imap import Mailbox  # noqa: E402
from maildesk.mail.parse import parse_mail  # noqa: E402
from maildesk.store.db import Store  # noqa: E402

SAMPLES = [
    ("Fire in the building next door", "Smoke everywhere, people trapped on the third floor."),
    ("मेरे घर में चोरी हो गई", "कल रात हमारे घर में चोरी हो गई। गहने गायब हैं।"),
    ("রাতে জোরে মাইক বাজছে", "গত তিন দিন ধরে রাত বারোটার পরেও মাইক বাজছে।"),
    ("Lost my passport", "I lost my passport near the market and need a report."),
    ("Someone is threatening me on the phone", "A man keeps calling and threatening me."),
]


class SmtpSink:
    """bench/smtp_sink.py in its own process: the SMTP server a station would have."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "smtp_sink.py"), str(self.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def count(self) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # end of input: the sink stops
        self.process.wait(timeout=30)


def make_mails(count: int, to: str) -> list[bytes]:
    mails = []
    for i in range(count):
        subject, body = SAMPLES[i % len(SAMPLES)]
        mails.append(resident_mail(f"resident{i}@example.net", to, f"{subject} ({i})",
                                   body, email.utils.make_msgid(f"bench{i}")[1:-1]))
    return mails


def fill_inbox(dovecot: Dovecot, user: str, mails: list[bytes]) -> None:
    """Deliver straight into the Maildir (as the local delivery agent would): fast for 10k."""
    dovecot.append(user, mails[0])  # creates the mailbox
    new = dovecot.maildir_path(user) / "new"
    for i, raw in enumerate(mails[1:], start=1):
        (new / f"{time.time_ns()}.bench{i}.localhost").write_bytes(raw)
    owner = new.stat()  # Dovecot may run the mail user as someone else (root runs)
    for path in new.iterdir():
        os.chown(path, owner.st_uid, owner.st_gid)


def bare_loop(dovecot: Dovecot, user: str, password: str, db_path: Path) -> float:
    """Fetch, parse and insert, nothing else: the floor maildesk is compared against."""
    from maildesk.config.settings import Server

    start = time.perf_counter()
    with Mailbox(Server(dovecot.host, dovecot.port, "plain", user, password)) as mailbox:
        mailbox.select_inbox()
        uids = mailbox.uids()
        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, mid TEXT, subject TEXT, body)")
        for i in range(0, len(uids), 200):
            batch = mailbox.fetch(uids[i : i + 200])
            with conn:
                for raw in batch.values():
                    mail = parse_mail(raw)
                    conn.execute("INSERT INTO m (mid, subject, body) VALUES (?, ?, ?)",
                                 (mail.message_id, mail.subject, mail.text))
        conn.close()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    args = parser.parse_args()
    if find_dovecot() is None:
        print("dovecot-imapd is not installed (scripts/test installs it)")
        return 2
    with tempfile.TemporaryDirectory(prefix="maildesk-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        dovecot = Dovecot.start(work / "dovecot")
        smtp = SmtpSink()
        try:
            user = dovecot.add_user("bench", "bench-password")
            baseline_user = dovecot.add_user("baseline", "bench-password")
            station = StationAccount("BHL", user.name, user.password, ("si@example.org",))
            config = config_for(work / "desk", (dovecot.host, dovecot.port),
                                (smtp.host, smtp.port), [station], sender_hourly_limit=10000)
            mails = make_mails(args.mails, station.address)
            fill_inbox(dovecot, user.name, mails)
            fill_inbox(dovecot, baseline_user.name, mails)

            bare = bare_loop(dovecot, baseline_user.name, "bench-password", work / "bare.db")
            start = time.perf_counter()
            report = asyncio.run(poll_once(config))
            elapsed = time.perf_counter() - start
            store = Store(config.data_dir)
            complaints = len(store.query("SELECT id FROM complaints"))
            received = smtp.count()
            notifications = received["to"].get("si@example.org", 0)
            acks = received["messages"] - notifications
            left = len(dovecot.folder_uids(user.name))
            print(f"mails appended:        {args.mails}")
            print(f"complaints recorded:   {complaints}")
            print(f"acknowledgements recv: {acks}")
            print(f"notifications recv:    {notifications}")
            print(f"left in INBOX:         {left}")
            print(f"maildesk pass:         {elapsed:.2f} s "
                  f"({args.mails / elapsed:.0f} mails/s, incl. sending {report.sent.sent})")
            print(f"bare fetch-parse-insert: {bare:.2f} s ({args.mails / bare:.0f} mails/s)")
            print(f"ratio maildesk/bare rate: {bare / elapsed:.2f}")
            store.close()
        finally:
            smtp.stop()
            dovecot.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
