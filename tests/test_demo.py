"""The README's first command: `maildesk demo` runs the whole flow and ends by itself."""

from __future__ import annotations

import re
import subprocess
import sys


def test_the_demo_shows_complaints_from_mail_to_closure_and_the_digest(tmp_path):
    done = subprocess.run([sys.executable, "-m", "maildesk", "demo", "--keep", str(tmp_path)],
                          capture_output=True, text=True, timeout=180)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    codes = set(re.findall(r"\b(?:BHL|TLN)-\d{4}-\d{4}\b", out))
    assert len(codes) == 3
    assert re.search(r"BHL-\d{4}-\d{4}\s+URGENT", out)  # the fire
    assert out.count("the resident received the acknowledgement") == 3
    assert "the resident received the closure" in out
    assert "replied #progress" in out and "replied #close" in out
    assert "The DCP received the morning digest" in out
    assert "Traceback" not in out + done.stderr
