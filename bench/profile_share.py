"""Where a profiled backlog run spends its time, by stage, from py-spy's collapsed stacks.

    .venv/bin/python bench/backlog.py --mails 1000 --rounds 1 --stations 1 --profile /tmp/prof
    .venv/bin/python bench/profile_share.py /tmp/prof.1.txt

Each sample is given to the innermost stage its stack passes through (so the store calls
made while recording count as record, the template rendering of an outgoing mail as compose).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

# (stage, frame fragment); the innermost frame that matches decides.
STAGES = (
    ("fetch", "maildesk/intake/imap.py"),
    ("fetch", "imapclient/"),
    ("store raw bytes", "save_raws"),
    ("parse", "maildesk/mail/parse.py"),
    ("sort", "maildesk/sorting/rules.py"),
    ("classify", "maildesk/triage/"),
    ("record/SQLite", "maildesk/sorting/record.py"),
    ("record/SQLite", "maildesk/pipeline.py"),
    ("record/SQLite", "maildesk/store/"),
    ("compose", "maildesk/mail/outgoing.py"),
    ("compose", "maildesk/mail/templates.py"),
    ("compose", "maildesk/mail/message.py"),
    ("send", "maildesk/mail/send.py"),
    ("send", "maildesk/mail/smtp.py"),
    ("send", "aiosmtplib/"),
    ("start-up", "maildesk/desk.py"),
    ("start-up", "_find_and_load"),
)


# Frames where a thread waits (py-spy still samples some of them as busy): not counted.
WAITING = ("concurrent/futures/thread.py:81", "EpollSelector.select", "_read_from_self")


def stage_of(stack: list[str]) -> str | None:
    if any(w in stack[-1] for w in WAITING):
        return None
    for frame in reversed(stack):
        for name, fragment in STAGES:
            if fragment in frame:
                # store calls under record/compose/send count for the caller's stage
                if name == "record/SQLite" and "maildesk/store/" in frame:
                    return _caller(stack, frame)
                return name
    return "other (event loop, threads, interpreter)"


def _caller(stack: list[str], frame: str) -> str:
    for outer in reversed(stack[:stack.index(frame)]):
        for name, fragment in STAGES:
            if fragment in outer and name != "record/SQLite":
                return name if name in ("send", "compose") else "record/SQLite"
            if fragment in outer:
                return "record/SQLite"
    return "record/SQLite"


def main() -> int:
    shares: Counter[str] = Counter()
    for line in Path(sys.argv[1]).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stage = stage_of(stack.split(";"))
        if stage is not None:
            shares[stage] += int(count)
    total = sum(shares.values())
    for name, n in shares.most_common():
        print(f"{name:<44}{n:>7}{100 * n / total:>7.1f} %")
    print(f"{'all samples (threads busy)':<44}{total:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
