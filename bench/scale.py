"""Scale: one `maildesk run` watching many station mailboxes (Dovecot users, IMAP IDLE).

    .venv/bin/python bench/scale.py                       # 200 mailboxes, 60 s idle, 60 mails
    .venv/bin/python bench/scale.py --stations 50 --idle 20 --mails 20

Starts a private Dovecot and a recording SMTP server on loopback, the daemon as its own
process, and waits until every station's IDLE watcher is up and the start-up passes are done.
Then, with nothing arriving, it reads the daemon's resident memory, threads and CPU over --idle
seconds (from /proc). Then one mail a second goes to a station chosen at random (seeded); for
each, the time from the end of its APPEND to the resident's acknowledgement accepted by the
SMTP server. Then, with the daemon stopped, noticing alone (--notice mails): maildesk's IDLE
watchers in this process, from the end of an APPEND to the wake of that station. Prints a
table and writes JSON (--json).

Polling is every 300 s (--poll-seconds), so only IDLE explains a quick answer, and the idle
window (which ends before the first poll) measures IDLE alone; --poll-seconds 60, the daemon's
default, puts the safety-net passes into it. The machine's load average is recorded before and
after: on a shared machine, say so. With --py-spy FILE, py-spy (pip install py-spy) samples
the daemon through the idle window and writes flame graph data (raw, non-idle samples only).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
from backlog import BUDGETS, OFFICER, _code, machine  # noqa: E402
from deskenv import StationAccount, write_config  # noqa: E402
from realistic import realistic_mail  # noqa: E402
from servers import Dovecot, SmtpRecorder, find_dovecot  # noqa: E402

from maildesk.config.settings import load_config  # noqa: E402
from maildesk.intake.watcher import Watchers  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "Threads"):
            fields[key] = int(value.split()[0])
    return fields


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    parts = stat[stat.rindex(")") + 2:].split()
    return (int(parts[11]) + int(parts[12])) / TICKS  # utime + stime


class Arrivals:
    """When the recording server accepted a mail for each recipient (monotonic seconds)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.cond = threading.Condition()

    def __call__(self, received) -> None:  # noqa: ANN001 - the recorder's Received
        with self.cond:
            for rcpt in received.rcpt_tos:
                self.at.setdefault(rcpt, time.monotonic())
            self.cond.notify_all()

    def wait(self, address: str, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: address in self.at, timeout)
            return self.at.get(address)


def start_daemon(path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "maildesk", "--config", str(path), "run"],
                            env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def wait_watchers(lines: list[str], stations: int, timeout: float) -> float:
    start = time.monotonic()
    watching = re.compile(r"station \S+: watching INBOX with IDLE")
    while time.monotonic() - start < timeout:
        if sum(1 for line in list(lines) if watching.search(line)) >= stations:
            return time.monotonic() - start
        time.sleep(0.2)  # polling the log of another process; nothing to wait on
    raise RuntimeError(f"only {sum(1 for x in lines if watching.search(x))} of {stations} "
                       f"watchers up after {timeout}s:\n" + "\n".join(lines[-20:]))


def settle(pid: int, timeout: float = 120.0) -> float:
    """Wait until the daemon is done with its start (a pass per station): two seconds in a
    row under 2 % of a core. Returns how long that took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        cpu = cpu_seconds(pid)
        time.sleep(2.0)  # the measuring window of the settle check
        if cpu_seconds(pid) - cpu < 0.04:
            break
    return time.monotonic() - start


def notice_times(dovecot: Dovecot, users: list, path: Path, env: dict[str, str],
                 mails: int) -> list[float]:
    """Noticing alone: maildesk's IDLE watchers in this process over the same mailboxes (the
    daemon has stopped), from the end of an APPEND to the wake of that station."""
    config = load_config(path, env=env)
    woken: dict[str, float] = {}
    cond = threading.Condition()

    def wake(code: str, why: str) -> None:
        if why == "IDLE reports new mail":
            with cond:
                woken.setdefault(code, time.monotonic())
                cond.notify_all()

    watchers = Watchers(wake)
    watchers.start()
    try:
        for station in config.stations:
            watchers.watch(station)
        codes = {s.code for s in config.stations}
        if not watchers.wait_for(lambda: watchers.idling == codes, 300):
            raise RuntimeError(f"only {len(watchers.idling)} of {len(codes)} idling")
        rng, times = random.Random(8), []
        for n in range(mails):
            target = rng.randrange(len(users))
            station = config.stations[target]
            with cond:
                woken.pop(station.code, None)
            dovecot.append(users[target].name, realistic_mail(200_000 + n, station.address))
            appended = time.monotonic()
            with cond:
                if cond.wait_for(lambda: station.code in woken, 30):  # noqa: B023
                    times.append(woken[station.code] - appended)
        return times
    finally:
        watchers.stop()
        watchers.join(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measuring")
    parser.add_argument("--mails", type=int, default=60, help="mails at one per second")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "scale.json")
    parser.add_argument("--poll-seconds", type=int, default=300,
                        help="each station's safety-net poll (the daemon's default is 60)")
    parser.add_argument("--notice", type=int, default=60,
                        help="mails for the noticing-alone measurement (0: none)")
    parser.add_argument("--py-spy", type=Path, default=None, help="profile the idle window")
    args = parser.parse_args()
    if find_dovecot() is None:
        print("dovecot-imapd is not installed (scripts/test installs it)")
        return 2
    arrivals = Arrivals()
    dovecot = Dovecot.start()
    recorder = SmtpRecorder(deliver=arrivals).start()
    proc = None
    try:
        with tempfile.TemporaryDirectory(prefix="maildesk-scale-") as tmp:
            users = [dovecot.add_user(f"scale{n}", "bench-password")
                     for n in range(args.stations)]
            for user in users:  # an INBOX exists before the watcher selects it
                with dovecot.client(user.name) as imap:
                    imap.select_folder("INBOX")
            stations = [StationAccount(_code(n), u.name, u.password, (OFFICER,))
                        for n, u in enumerate(users)]
            path, env = write_config(Path(tmp) / "desk", (dovecot.host, dovecot.port),
                                     (recorder.host, recorder.port), stations, **BUDGETS)
            data = yaml.safe_load(path.read_text())
            data["defaults"]["poll_seconds"] = args.poll_seconds
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            proc, lines = start_daemon(path, env)
            ready = wait_watchers(lines, args.stations, timeout=120 + args.stations)
            settled = settle(proc.pid)
            load_before = os.getloadavg()
            spy = None if args.py_spy is None else subprocess.Popen(
                ["py-spy", "record", "--pid", str(proc.pid), "--duration", str(int(args.idle)),
                 "--rate", "20", "--format", "raw", "-o", str(args.py_spy)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(args.idle)  # the measurement itself: nothing arrives for this long
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            if spy is not None:
                spy.wait(timeout=60)
            idle = proc_status(proc.pid)
            rng = random.Random(7)
            latencies: list[float] = []
            missing = 0
            for n in range(args.mails):
                target = rng.randrange(args.stations)
                raw = realistic_mail(100_000 + n, stations[target].address)
                sender = re.search(rb"^From: .*<([^>]+)>", raw, re.M).group(1).decode().lower()
                start = time.monotonic()
                dovecot.append(users[target].name, raw)
                appended = time.monotonic()
                arrived = arrivals.wait(sender, timeout=30)
                if arrived is None:
                    missing += 1
                else:
                    latencies.append(arrived - appended)
                time.sleep(max(0.0, start + 1.0 - time.monotonic()))  # one mail a second
            busy = proc_status(proc.pid)
            load_after = os.getloadavg()
            proc.terminate()
            proc.wait(timeout=60)
            notices = notice_times(dovecot, users, path, env, args.notice)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        recorder.stop()
        dovecot.stop()
    result = {
        "machine": machine(), "stations": args.stations, "poll_seconds": args.poll_seconds,
        "watchers_ready_s": ready, "settled_after_s": settled,
        "idle_seconds": t1 - t0, "idle_cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0),
        "rss_mb_idle": idle["VmRSS"] / 1024, "threads_idle": idle["Threads"],
        "rss_anon_mb_idle": idle["RssAnon"] / 1024, "rss_file_mb_idle": idle["RssFile"] / 1024,
        "rss_mb_after_mail": busy["VmRSS"] / 1024, "mails": args.mails, "unanswered": missing,
        "ack_p50_s": percentile(latencies, 0.50) if latencies else None,
        "ack_p90_s": percentile(latencies, 0.90) if latencies else None,
        "ack_p99_s": percentile(latencies, 0.99) if latencies else None,
        "ack_mean_s": statistics.mean(latencies) if latencies else None,
        "load_before": load_before, "load_after": load_after,
        "notice_mails": args.notice, "notice_missed": args.notice - len(notices),
        **{f"notice_p{q}_s": percentile(notices, q / 100) if notices else None
           for q in (50, 90, 99)},
    }
    print(f"{args.stations} mailboxes: watchers up in {ready:.1f} s, start-up passes done "
          f"{settled:.1f} s later")
    print(f"idle: {result['rss_mb_idle']:.0f} MB resident, {result['threads_idle']} threads, "
          f"{result['idle_cpu_percent']:.2f} % of a core over {result['idle_seconds']:.0f} s")
    print(f"machine load average (1, 5, 15 min): {load_before[0]:.1f} {load_before[1]:.1f} "
          f"{load_before[2]:.1f} before, {load_after[0]:.1f} {load_after[1]:.1f} "
          f"{load_after[2]:.1f} after")
    if latencies:
        print(f"arrival to acknowledgement at 1 mail/s ({len(latencies)} mails, {missing} "
              f"unanswered): p50 {result['ack_p50_s']:.2f} s, p90 {result['ack_p90_s']:.2f} s,"
              f" p99 {result['ack_p99_s']:.2f} s")
    if notices:
        print(f"noticing alone, append to wake ({len(notices)} mails): p50 "
              f"{result['notice_p50_s']:.3f} s, p90 {result['notice_p90_s']:.3f} s, p99 "
              f"{result['notice_p99_s']:.3f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
