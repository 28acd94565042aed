"""Latency: arrival to acknowledgement at 5 mails a second, alone and during a backlog.

    .venv/bin/python bench/latency.py           # IDLE and polling, 60 s each, 10,000 backlog
    .venv/bin/python bench/latency.py --seconds 20 --backlog 2000 --modes idle

`maildesk run` as its own process watches two stations. Mail arrives at station A at --rate
mails a second for --seconds (delivered into its INBOX by IMAP APPEND, as the mail server's
delivery agent does); for each mail, the time from its delivery to the resident's
acknowledgement accepted by the SMTP server. Twice: with A alone, and with --backlog mails
already waiting at station B. Modes: `idle` (IMAP IDLE, poll every 300 s) and `poll` (no IDLE,
poll every --poll-seconds). Prints p50/p95/p99 per case and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
from backlog import BUDGETS, OFFICER, append_all, machine  # noqa: E402
from deskenv import StationAccount, write_config  # noqa: E402
from realistic import realistic_mail, realistic_mails  # noqa: E402
from scale import Arrivals, percentile, start_daemon, wait_watchers  # noqa: E402
from servers import Dovecot, SmtpRecorder, find_dovecot  # noqa: E402


def sender_of(raw: bytes) -> str:
    return re.search(rb"^From: .*<([^>]+)>", raw, re.M).group(1).decode().lower()


def one_case(dovecot: Dovecot, recorder: SmtpRecorder, arrivals: Arrivals, mode: str,
             backlog: int, args: argparse.Namespace, case: int) -> dict:
    a = dovecot.add_user(f"lat{case}a", "bench-password")
    b = dovecot.add_user(f"lat{case}b", "bench-password")
    for user in (a, b):
        with dovecot.client(user.name) as imap:
            imap.select_folder("INBOX")
    stations = [StationAccount("LATA", a.name, a.password, (OFFICER,)),
                StationAccount("LATB", b.name, b.password, (OFFICER,))]
    with tempfile.TemporaryDirectory(prefix="maildesk-latency-") as tmp:
        path, env = write_config(Path(tmp) / "desk", (dovecot.host, dovecot.port),
                                 (recorder.host, recorder.port), stations, **BUDGETS)
        data = yaml.safe_load(path.read_text())
        data["defaults"]["poll_seconds"] = 300 if mode == "idle" else args.poll_seconds
        data["defaults"]["idle"] = mode == "idle"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        if backlog:
            append_all(dovecot, b.name, realistic_mails(backlog, stations[1].address,
                                                        seed=case + 17))
        proc, lines = start_daemon(path, env)
        try:
            if mode == "idle":
                wait_watchers(lines, 2, timeout=60)
            latencies: list[float] = []
            missing = 0
            pending: list[tuple[str, float]] = []
            total = int(args.rate * args.seconds)
            start = time.monotonic()
            for n in range(total):
                raw = realistic_mail(500_000 + case * 10_000 + n, stations[0].address)
                dovecot.append(a.name, raw)
                pending.append((sender_of(raw), time.monotonic()))
                time.sleep(max(0.0, start + (n + 1) / args.rate - time.monotonic()))  # the rate
            for sender, delivered in pending:
                left = max(1.0, delivered + 120 - time.monotonic())
                arrived = arrivals.wait(sender, timeout=left)
                if arrived is None:
                    missing += 1
                else:
                    latencies.append(arrived - delivered)
            backlog_left = len(dovecot.folder_uids(b.name)) if backlog else 0
            if missing:
                print("\n".join(lines[-30:]))
        finally:
            proc.terminate()
            proc.wait(timeout=120)
    return {"mode": mode, "backlog": backlog, "mails": total, "unanswered": missing,
            "backlog_left_at_end": backlog_left,
            "p50_s": percentile(latencies, 0.50), "p95_s": percentile(latencies, 0.95),
            "p99_s": percentile(latencies, 0.99), "max_s": max(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--modes", nargs="+", default=["idle", "poll"], choices=["idle", "poll"])
    parser.add_argument("--poll-seconds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latency.json")
    args = parser.parse_args()
    if find_dovecot() is None:
        print("dovecot-imapd is not installed (scripts/test installs it)")
        return 2
    arrivals = Arrivals()
    dovecot = Dovecot.start()
    recorder = SmtpRecorder(deliver=arrivals).start()
    cases = []
    try:
        for mode in args.modes:
            for backlog in (0, args.backlog):
                case = one_case(dovecot, recorder, arrivals, mode, backlog, args, len(cases))
                cases.append(case)
                print(f"{mode:<5} backlog {backlog:>6}: p50 {case['p50_s']:.2f} s, "
                      f"p95 {case['p95_s']:.2f} s, p99 {case['p99_s']:.2f} s, max "
                      f"{case['max_s']:.2f} s ({case['mails']} mails, {case['unanswered']} "
                      f"unanswered; backlog left {case['backlog_left_at_end']})")
    finally:
        recorder.stop()
        dovecot.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine(), "rate": args.rate,
                                     "seconds": args.seconds, "cases": cases}, indent=2))
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
