"""The daemon killed at random moments: `maildesk -v run` as a real process, SIGKILLed by PID
while mail waits and arrives across several stations (at start-up, while checking an INBOX,
right after a batch is taken in, while the outbox drains), restarted after each kill; then it
is left to finish. Afterwards: no mail lost, no complaint doubled, every complaint acknowledged
and its officers notified, INBOXes empty, and each kill sent at most one mail twice (the SPEC:
"a crash sends at most one duplicate mail").

The default suite runs 300 mails and 5 kills; `pytest -m slow tests/test_kill.py` runs 1,000
mails and 12 kills. Kill moments are drawn from a seeded random generator (printed); the test
waits on the daemon's log and on what the SMTP server received, never on the clock.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import signal
from collections import Counter
from dataclasses import dataclass, field

import pytest
from servers import Dovecot, SmtpRecorder
from test_daemon import (
    OFFICER,
    DaemonProcess,
    append_many,
    complaint_mail,
    open_store,
    station,
    write_daemon_config,
)
from test_outages import BUSY_DESK, desk_settings

STATIONS = ("BHL", "LKT", "DUM")
MOMENTS = ("start-up", "checking an INBOX", "after a batch", "while sending")
DEADLINE = 120


@dataclass
class Run:
    kills: int = 0
    moments: Counter[str] = field(default_factory=Counter)
    duplicates_per_kill: list[int] = field(default_factory=list)
    # for a kill that left more than one duplicate: its moment, the mails and the run's log
    evidence: list[str] = field(default_factory=list)


def message_id(data: bytes) -> str:
    found = re.search(rb"(?im)^message-id:\s*(<[^>]+>)", data)
    assert found, data[:300]
    return found.group(1).decode()


def kill_at_random(daemon: DaemonProcess, smtp: SmtpRecorder, moment: str,
                   rng: random.Random) -> None:
    """Wait for the chosen moment, then SIGKILL the daemon by its PID."""
    daemon.wait_for(r"maildesk running", timeout=DEADLINE)
    if moment == "checking an INBOX":
        daemon.wait_for(r"checking INBOX", timeout=DEADLINE)
    elif moment == "after a batch":
        daemon.wait_for(r"mails taken in", timeout=DEADLINE)
    elif moment == "while sending":
        wanted = len(smtp.messages) + rng.randint(1, 40)
        smtp.wait_for(wanted, timeout=DEADLINE)
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.wait(DEADLINE)


def run_with_kills(tmp_path, dovecot: Dovecot, smtp: SmtpRecorder, mails: int, kills: int,
                   seed: int) -> Run:
    rng = random.Random(seed)
    accounts = [station(dovecot.add_user(f"st{secrets.token_hex(4)}", secrets.token_hex(8)),
                        code) for code in STATIONS]
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, accounts)
    desk_settings(path, **BUSY_DESK)
    plan = [(accounts[i % len(accounts)], i) for i in range(mails)]
    rng.shuffle(plan)
    waiting, live = plan[: mails // 2], plan[mails // 2 :]
    portions = [live[k::kills] for k in range(kills)]

    def append(part: list) -> None:
        for account in accounts:
            append_many(dovecot, account.user, [complaint_mail(i, account.address, "k")
                                                for a, i in part if a is account])

    append(waiting)
    run, boundaries, logs = Run(), [], []
    moments = [MOMENTS[k % len(MOMENTS)] for k in range(kills)]
    rng.shuffle(moments)  # every kind of moment, in a random order
    for k, moment in enumerate(moments):
        daemon = DaemonProcess(path)
        try:
            if moment != "start-up":
                daemon.wait_for(r"maildesk running", timeout=DEADLINE)
                append(portions[k])  # mail arriving while the daemon runs
            kill_at_random(daemon, smtp, moment, rng)
            if moment == "start-up":
                append(portions[k])
        except BaseException:
            print("--- the daemon's log ---", *daemon.lines[-60:], sep="\n")
            raise
        finally:
            daemon.kill()
        # The server may still be reading what the killed daemon wrote last: the boundary of
        # this run is taken once every one of its connections has ended.
        smtp.wait_until_quiet(DEADLINE)
        logs.append(daemon.lines)
        run.kills += 1
        run.moments[moment] += 1
        boundaries.append(len(smtp.messages))

    daemon = DaemonProcess(path)  # the last start: left to finish
    try:
        outgoing = 2 * mails  # an acknowledgement and a notification per complaint
        while len({message_id(m.data) for m in smtp.messages
                   if b"X-Maildesk-Complaint" in m.data}) < outgoing:
            smtp.wait_for(len(smtp.messages) + 1, timeout=DEADLINE)
        assert daemon.stop(DEADLINE) == 0
    except BaseException:
        print("--- the daemon's log ---", *daemon.lines[-60:], sep="\n")
        raise
    finally:
        daemon.kill()
    daemon.assert_clean()

    messages = smtp.messages
    boundaries.append(len(messages))
    # A mail sent again was accepted, but not recorded, before the kill that ended the run
    # its previous copy was sent in: that kill is the one that caused this copy. (A copy sent
    # again and then caught by the next kill too is one duplicate of each kill.)
    last_run: dict[str, int] = {}
    causes: Counter[int] = Counter()
    again_after: dict[int, list[str]] = {}
    for index, m in enumerate(messages):
        mid = message_id(m.data)
        run_of = next(k for k, end in enumerate(boundaries) if index < end)
        if mid in last_run:
            causes[last_run[mid]] += 1
            again_after.setdefault(last_run[mid], []).append(mid)
        last_run[mid] = run_of
    run.duplicates_per_kill = [causes[k] for k in range(kills)]
    for k in (k for k in range(kills) if causes[k] > 1):
        again = sorted(again_after[k])
        seen = [ln for ln in logs[k] if any(mid.strip("<>") in ln for mid in again)]
        run.evidence += [f"kill {k} ({moments[k]}): sent again {again}", *seen,
                         "... its last log lines:", *logs[k][-25:]]
    assert sum(causes.values()) == sum(run.duplicates_per_kill)  # none without a kill
    check_everything_once(tmp_path, dovecot, accounts, messages, mails)
    return run


def check_everything_once(tmp_path, dovecot: Dovecot, accounts: list, messages: list,
                          mails: int) -> None:
    for account in accounts:
        assert dovecot.folder_uids(account.user, "INBOX") == []
    processed = sum(len(dovecot.folder_uids(a.user, "maildesk-processed")) for a in accounts)
    assert processed == mails
    with open_store(tmp_path) as store:
        rows = store.query("SELECT code, resident_addr, acknowledged_at FROM complaints")
        outbox = Counter(r["kind"] for r in store.outbox())
        assert store.outbox_counts() == {"sent": sum(outbox.values())}
    assert outbox["ack"] == outbox["notify"] == mails, outbox
    residents = Counter(r["resident_addr"] for r in rows)
    assert len(rows) == mails and set(residents.values()) == {1}  # 0 lost, 0 doubled
    assert all(r["acknowledged_at"] for r in rows)
    acked = {rcpt for m in messages for rcpt in m.rcpt_tos if rcpt in residents}
    assert acked == set(residents)
    notified = {re.search(rb"X-Maildesk-Complaint: (\S+)", m.data).group(1).decode()
                for m in messages if OFFICER in m.rcpt_tos}
    assert notified == {r["code"] for r in rows}


def report(run: Run, mails: int, seed: int) -> None:
    total = sum(run.duplicates_per_kill)
    print(f"\nFIGURE kills: {run.kills} SIGKILLs over {mails} mails in {len(STATIONS)} "
          f"stations (seed {seed}; {dict(run.moments)}): 0 lost, 0 doubled, {total} "
          f"duplicate sends, worst {max(run.duplicates_per_kill)} per kill "
          f"({run.duplicates_per_kill})")
    assert max(run.duplicates_per_kill) <= 1, "\n".join(run.evidence)


def test_killed_five_times_over_300_mails(tmp_path, dovecot, smtp):
    seed = int(os.environ.get("MAILDESK_KILL_SEED", "0")) or random.randrange(1 << 30)
    run = run_with_kills(tmp_path, dovecot, smtp, 300, 5, seed)
    report(run, 300, seed)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killed_twelve_times_over_1000_mails(tmp_path, dovecot, smtp):
    seed = int(os.environ.get("MAILDESK_KILL_SEED", "0")) or random.randrange(1 << 30)
    run = run_with_kills(tmp_path, dovecot, smtp, 1000, 12, seed)
    report(run, 1000, seed)
