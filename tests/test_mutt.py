"""A reply written by a real mail client: mutt (Debian package ``mutt``) answers a notification.

The officers' notification goes into a Maildir as the officer's mailbox; mutt, driven without a
human, opens it, replies to the message (an "editor" script puts the command above mutt's
quote), and sends through its built-in SMTP client to the test SMTP server.  What mutt sent
is delivered into the station's Dovecot INBOX, and maildesk's next pass must act on it.

mutt is a full-screen program and needs a terminal even when its keys come from ``push``, so
it runs on a pseudo-terminal from Python's :mod:`pty` (no ``script`` needed), with a timeout.
"""

from __future__ import annotations

import mailbox
import os
import shutil
import sys
from pathlib import Path

from conversation import OFFICER, RESIDENT
from deskenv import parse
from needs import missing
from terminal import run_on_pty

COMMAND = "#progress The beat officer is at the spot."
MUTT_TIMEOUT = 30.0


def _find_mutt() -> str:
    found = shutil.which("mutt") or shutil.which("neomutt")
    if found is None:
        missing("mutt is not installed: install it with `apt-get install mutt`")
    return found


def _muttrc(home: Path, smtp_port: int) -> Path:
    """A muttrc that needs no answers: every question mutt could ask is settled here."""
    editor = home / "add-command"
    # mutt calls the editor with the draft's path; with edit_headers=no the draft is only the
    # body (attribution + quote), so the officer's command goes on top, as officers write.
    editor.write_text(f"""#!{sys.executable}
import sys
path = sys.argv[-1]
with open(path, encoding="utf-8") as f:
    draft = f.read()
with open(path, "w", encoding="utf-8") as f:
    f.write({COMMAND!r} + "\\n\\n" + draft)
""")
    editor.chmod(0o755)
    rc = home / "muttrc"
    rc.write_text(f"""\
set smtp_url="smtp://127.0.0.1:{smtp_port}/"
set ssl_starttls=no
set ssl_force_tls=no
set from="{OFFICER}"
set realname="SI Mukherjee"
set use_from=yes
set hostname="maildesk.test"
set editor="{editor}"
set include=yes
set edit_headers=no
set fast_reply=yes
set autoedit=no
set reply_to=yes
set attribution="On %d, %n wrote:"
set abort_unmodified=no
set record=""
set copy=no
set postpone=no
set recall=no
set move=no
set quit=yes
set folder="{home}"
set spoolfile="{home}/Maildir"
set mbox="{home}/Maildir"
set user_agent=yes
set charset="utf-8"
set send_charset="us-ascii:utf-8"
set tmpdir="{home}"
set header_cache=""
set crypt_autosign=no
set crypt_autoencrypt=no
set crypt_replyencrypt=no
set crypt_replysign=no
set crypt_opportunistic_encrypt=no
""")
    return rc


def mutt_reply(mutt: str, home: Path, notification_raw: bytes, smtp_port: int) -> None:
    """Let mutt reply to the only message of a Maildir holding ``notification_raw``."""
    folder = home / "Maildir"
    mailbox.Maildir(folder).add(mailbox.MaildirMessage(notification_raw))
    env = {"HOME": str(home), "TERM": "xterm", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MAIL": str(folder),
           "TZ": "Asia/Kolkata"}
    argv = [mutt, "-n", "-F", str(_muttrc(home, smtp_port)), "-f", str(folder),
            "-e", "push <reply><send-message><quit>"]
    code, screen = run_on_pty(argv, env, MUTT_TIMEOUT)
    assert code == 0, f"mutt exited with {code}; screen:\n{screen[-3000:].decode(errors='replace')}"


def test_an_officer_replies_with_mutt(tmp_path, conversation, smtp):
    mutt = _find_mutt()
    desk = conversation
    _, notification = desk.report()
    code = desk.complaint()["code"]
    [notification_raw] = [m.data for m in smtp.messages if OFFICER in m.rcpt_tos]

    smtp.clear()
    home = tmp_path / "officer"
    home.mkdir()
    mutt_reply(mutt, home, notification_raw, smtp.port)
    [sent] = smtp.wait_for(1, timeout=MUTT_TIMEOUT)
    saved = tmp_path / "mutt_real.eml"
    saved.write_bytes(sent.data)
    print(f"mutt's raw reply: {saved}")

    reply = parse(sent.data)
    assert "mutt" in reply["User-Agent"].lower()
    assert reply["In-Reply-To"] == notification["Message-ID"]
    assert notification["Message-ID"] in reply["References"]
    assert sent.mail_from == OFFICER and desk.bhl.address in sent.rcpt_tos
    text = reply.get_content()
    assert text.startswith(COMMAND)
    assert any(line.startswith("> ") for line in text.splitlines())
    assert "wrote:" in text

    desk.deliver(sent.data)  # through the SMTP server into the station's Dovecot INBOX
    desk.poll()
    complaint = desk.complaint()
    assert complaint["status"] == "in_process" and complaint["first_action_at"]
    [update] = desk.received(RESIDENT)
    assert code in update["Subject"] and "beat officer" in update.get_content()
    [confirm] = desk.received(OFFICER)
    assert "#progress" in confirm.get_content()
    [event] = [e for e in desk.store().events(complaint["id"]) if e["action"] == "progress"]
    assert event["actor"] == OFFICER
