"""Backlog: maildesk against a bare fetch-parse-insert loop, side by side, on a real Dovecot.

    .venv/bin/python bench/backlog.py                    # 10,000 mails, 1 and 20 stations, 3 rounds
    .venv/bin/python bench/backlog.py --mails 2000 --rounds 1

Each round loads the same realistic mails (bench/realistic.py) by IMAP APPEND into fresh
Dovecot users: once for maildesk (in one INBOX, or spread over 20 stations) and once for the
bare loop. maildesk's time is `maildesk poll --once` as a process, from start until every mail
is a stored complaint and every acknowledgement and officers' notification has been accepted
by the SMTP server (bench/smtp_sink.py, its own process). The bare loop is what a hand-written
intake does and no more: batched FETCH of 200, `email` with `policy.default`; From, Subject,
Message-ID, the body and the attachment names; one INSERT and COMMIT per mail into SQLite in
WAL mode. Prints a table of medians and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from deskenv import StationAccount, write_config  # noqa: E402
from realistic import realistic_mails  # noqa: E402
from servers import Dovecot, find_dovecot  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

OFFICER = "duty.officer@police.example"
# A backlog of residents is not a flood: the budgets must let every acknowledgement go.
BUDGETS = {"sender_hourly_limit": 10000, "answers_per_address_hourly": 10000,
           "answers_per_station_hourly": 100_000, "answers_hourly": 1_000_000}


def machine() -> dict:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dovecot = subprocess.run([find_dovecot() or "dovecot", "--version"], capture_output=True,
                             text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "system": platform.platform(), "dovecot": dovecot}


def _code(n: int) -> str:
    """Station codes are letters: ST A, ST B, ... STAA."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return f"ST{letters}"


def append_all(dovecot: Dovecot, user: str, mails: list[bytes]) -> None:
    """IMAP APPEND over one connection, as a mail server's delivery would fill the INBOX."""
    with dovecot.client(user) as imap:
        for raw in mails:
            imap.append("INBOX", raw)


def bare_loop(dovecot: Dovecot, user: str, password: str, db_path: Path,
              ) -> tuple[float, float, int]:
    start, cpu = time.perf_counter(), time.process_time()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE mails (id INTEGER PRIMARY KEY, message_id TEXT, sender TEXT, "
                 "subject TEXT, body TEXT, attachments TEXT)")
    stored = 0
    with IMAPClient(dovecot.host, dovecot.port, ssl=False) as imap:
        imap.login(user, password)
        imap.select_folder("INBOX")
        uids = imap.search("ALL")
        for i in range(0, len(uids), 200):
            for data in imap.fetch(uids[i:i + 200], ["RFC822"]).values():
                mail = email.message_from_bytes(data[b"RFC822"], policy=email.policy.default)
                part = mail.get_body(("plain", "html"))
                body = part.get_content() if part is not None else ""
                names = [a.get_filename() or "" for a in mail.iter_attachments()]
                conn.execute("INSERT INTO mails (message_id, sender, subject, body, attachments)"
                             " VALUES (?, ?, ?, ?, ?)",
                             (str(mail["Message-ID"]), str(mail["From"]), str(mail["Subject"]),
                              body, json.dumps(names)))
                conn.commit()
                stored += 1
    conn.close()
    return time.perf_counter() - start, time.process_time() - cpu, stored


def _children_cpu() -> float:
    """CPU seconds of finished child processes: a figure the machine's other load moves
    less than the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def maildesk_pass(work: Path, dovecot: Dovecot, sink: SmtpSink, users: list,
                  mails_per_station: list[list[bytes]], profile: Path | None = None,
                  ) -> tuple[float, dict]:
    stations = [StationAccount(_code(n), u.name, u.password, (OFFICER,))
                for n, u in enumerate(users)]
    path, env = write_config(work / "desk", (dovecot.host, dovecot.port),
                             (sink.host, sink.port), stations, **BUDGETS)
    for user, mails in zip(users, mails_per_station, strict=True):
        append_all(dovecot, user.name, mails)
    before = sink.count()["messages"]
    cpu = _children_cpu()
    start = time.perf_counter()
    command = [sys.executable, "-m", "maildesk", "--config", str(path), "poll", "--once"]
    if profile is not None:  # py-spy samples every thread, native code shown as its caller
        command = [str(Path(sys.executable).with_name("py-spy")), "record", "--threads",
                   "--format", "raw", "--rate", "200", "-o", str(profile), "--", *command]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"maildesk poll --once failed:\n{done.stdout}\n{done.stderr}")
    total = sum(len(m) for m in mails_per_station)
    db = sqlite3.connect(work / "desk" / "data" / "maildesk.db")
    complaints = db.execute("SELECT count(*) FROM complaints").fetchone()[0]
    db.close()
    received = sink.count()
    sent = received["messages"] - before
    left = sum(len(dovecot.folder_uids(u.name)) for u in users)
    return elapsed, {"maildesk_cpu_s": cpu, "mails": total, "complaints": complaints,
                     "mails_sent": sent,
                     "expected_sent": 2 * total, "left_in_inbox": left}


def one_round(dovecot: Dovecot, sink: SmtpSink, mails: list[bytes], stations: int,
              round_no: int, profile: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="maildesk-backlog-") as tmp:
        work = Path(tmp)
        users = [dovecot.add_user(f"r{round_no}s{stations}n{n}", "bench-password")
                 for n in range(stations)]
        spread = [mails[n::stations] for n in range(stations)]
        seconds, counts = maildesk_pass(work, dovecot, sink, users, spread,
                                        profile.with_suffix(f".{stations}.txt") if profile
                                        else None)
        bare_user = dovecot.add_user(f"r{round_no}s{stations}bare", "bench-password")
        append_all(dovecot, bare_user.name, mails)
        bare_seconds, bare_cpu, stored = bare_loop(dovecot, bare_user.name, "bench-password",
                                                   work / "bare.db")
    assert stored == len(mails)
    return {"stations": stations, "maildesk_s": seconds, "bare_s": bare_seconds,
            "bare_cpu_s": bare_cpu, "load": os.getloadavg()[0], **counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stations", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--json", type=Path, default=HERE / "results" / "backlog.json")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record maildesk's run with py-spy (collapsed stacks) to this path")
    args = parser.parse_args()
    if find_dovecot() is None:
        print("dovecot-imapd is not installed (scripts/test installs it)")
        return 2
    mails = realistic_mails(args.mails, "station@police.example")
    print(f"{len(mails)} mails, mean {sum(map(len, mails)) / len(mails) / 1024:.1f} KB")
    dovecot = Dovecot.start()
    sink = SmtpSink()
    runs: list[dict] = []
    try:
        for layout in args.stations:
            for round_no in range(args.rounds):
                run = one_round(dovecot, sink, mails, layout, round_no, args.profile)
                runs.append(run)
                print(f"  {layout:>2} station(s), round {round_no + 1}: maildesk "
                      f"{run['maildesk_s']:.1f} s ({run['maildesk_cpu_s']:.1f} s CPU), bare "
                      f"{run['bare_s']:.1f} s ({run['bare_cpu_s']:.1f} s CPU), load "
                      f"{run['load']:.1f}, "
                      f"{run['complaints']} complaints, {run['mails_sent']} of "
                      f"{run['expected_sent']} mails sent, {run['left_in_inbox']} left")
    finally:
        sink.stop()
        dovecot.stop()
    table = []
    print(f"\n{'layout':<14}{'maildesk mails/s':>18}{'bare mails/s':>14}{'ratio':>8}"
          f"{'CPU ms/mail':>13}{'bare CPU':>10}{'all sent':>10}")
    for layout in args.stations:
        mine = [r for r in runs if r["stations"] == layout]
        md = statistics.median(args.mails / r["maildesk_s"] for r in mine)
        bare = statistics.median(args.mails / r["bare_s"] for r in mine)
        all_sent = all(r["mails_sent"] == r["expected_sent"] and r["complaints"] == args.mails
                       and r["left_in_inbox"] == 0 for r in mine)
        # CPU per mail, the maildesk process's own (its sending included) and the loop's
        cpu = statistics.median(1000 * r["maildesk_cpu_s"] / args.mails for r in mine)
        bare_cpu = statistics.median(1000 * r["bare_cpu_s"] / args.mails for r in mine)
        table.append({"stations": layout, "maildesk_per_s": md, "bare_per_s": bare,
                      "ratio": md / bare, "cpu_ms_per_mail": cpu,
                      "bare_cpu_ms_per_mail": bare_cpu, "all_sent": all_sent})
        print(f"{f'{layout} station(s)':<14}{md:>18.0f}{bare:>14.0f}{md / bare:>8.2f}"
              f"{cpu:>13.1f}{bare_cpu:>10.1f}{'yes' if all_sent else 'NO':>10}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine(), "mails": args.mails,
                                     "rounds": runs, "medians": table}, indent=2))
    print(f"\nwritten {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
