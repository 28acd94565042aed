"""The command line as an administrator uses it (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAIL = REPO / "tests" / "mail"


def maildesk(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maildesk", *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env={**os.environ, **(env or {})})


def test_inspect_reports_every_file_and_never_crashes(tmp_path):
    broken = tmp_path / "garbage.eml"
    broken.write_bytes(bytes(range(256)) * 50)
    missing = tmp_path / "missing.eml"
    files = sorted(MAIL.glob("*.eml")) + sorted((MAIL / "replies").glob("*.eml"))
    done = maildesk("inspect", "--json", *map(str, files), str(broken), str(missing))
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["file"] for r in reports] == [*map(str, files), str(broken), str(missing)]
    for report in reports[:-1]:
        assert {"kind", "language", "urgency", "reasons", "text", "officer", "complaint",
                "commands"} <= set(report)
    assert "error" in reports[-1]
    by_name = {Path(r["file"]).name: r for r in reports}
    assert by_name["en_urgent_fire.eml"]["urgency"] == "urgent"
    assert by_name["bounce_dsn.eml"]["kind"] == "bounce"
    assert by_name["status_request.eml"]["kind"] == "status"
    assert by_name["hi_theft.eml"]["language"] == "hi"


def test_inspect_reads_an_officers_reply(tmp_path):
    done = maildesk("inspect", "--json", str(MAIL / "replies" / "gmail_web.eml"))
    [report] = [json.loads(line) for line in done.stdout.splitlines()]
    expected = json.loads((MAIL / "replies" / "expected.json").read_text())["gmail_web.eml"]
    assert report["officer"] is True
    assert report["complaint"] == "BHL-2611-0007"
    assert [{"name": c["name"], "arg": c["arg"]} for c in expected["commands"]] == \
        report["commands"]
    assert ">" not in report["text"]  # what the officer typed, not the quoted thread


def test_inspect_text_is_the_typed_text_of_every_client_reply(tmp_path):
    # HTML-only (quote containers), Outlook blocks in other languages, footers: `text` is
    # exactly what was typed, as tests/mail/replies/desk/dev/expected.json says.
    folder = MAIL / "replies" / "desk" / "dev"
    expected = json.loads((folder / "expected.json").read_text("utf-8"))
    names = ["html_gmail_quote_es.eml", "html_outlook_divrply.eml", "outlook_ru.eml",
             "outlook_android_de.eml", "zimbra_nic.eml", "pasted_notification.eml"]
    done = maildesk("inspect", "--json", *(str(folder / n) for n in names))
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in reports] == [expected[n]["typed"] for n in names]


def test_a_wrong_configuration_stops_with_the_line_and_exit_code(tmp_path):
    config = tmp_path / "stations.yaml"
    config.write_text("zones: [\n")
    done = maildesk("--config", str(config), "check")
    assert done.returncode != 0
    assert f"{config}:" in done.stderr and "not valid YAML" in done.stderr
