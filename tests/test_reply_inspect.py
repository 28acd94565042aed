"""`maildesk inspect --json` gives the typed text of any reply: every dev reply fixture
through the command itself, and a reply that lost its threading headers and names no code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from replies_corpus import load

REPO = Path(__file__).resolve().parent.parent


def _inspect(*paths: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "maildesk", "inspect", "--json", *map(str, paths)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_inspect_text_is_the_typed_text_of_the_dev_replies() -> None:
    cases = load("dev")
    reports = _inspect(*(case.path for case in cases))
    assert [r["file"] for r in reports] == [str(case.path) for case in cases]
    missed = [case.path.name for case, r in zip(cases, reports, strict=True)
              if r["text"].strip() != case.expected.strip()]
    assert len(missed) <= 0.05 * len(cases), missed


def test_a_reply_without_threading_or_code_is_still_read_as_a_reply(tmp_path) -> None:
    raw = ("From: SI Arup Sen <si.sen@kolkatapolice.example>\n"
           "To: Behala Police Station <behala.ps@kolkatapolice.example>\n"
           "Subject: Re: Chain snatched near Chowrasta crossing\n"
           "Content-Type: text/plain; charset=utf-8\n\n"
           "Spoke to the jeweller, he will call us.\n\n"
           "On Thu, 3 Dec 2026 at 09:13, Behala Police Station <behala.ps@kolkatapolice.example>"
           " wrote:\n> A man on a red scooter pulled my gold chain near Chowrasta.\n")
    path = tmp_path / "reply.eml"
    path.write_text(raw, "utf-8")
    [report] = _inspect(path)
    assert report["text"] == "Spoke to the jeweller, he will call us."
