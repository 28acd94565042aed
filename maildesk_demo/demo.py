"""`maildesk demo`: the whole flow on this machine, with nothing to install or configure.

Local IMAP and SMTP servers start on loopback (pure Python), two stations get mailboxes,
residents write in English, Hindi and Bengali, the daemon takes the mail in, and the demo
prints what happened: codes, urgency and why, and the acknowledgements as residents see them.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import secrets
import smtplib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

import maildesk
from maildesk.clock import FakeClock
from maildesk.config.settings import load_config
from maildesk.daemon import Daemon
from maildesk.desk import Desk
from maildesk.mail.message import build_message
from maildesk.mail.send import drain_outbox
from maildesk.reports.digest import latest_day, queue_digest
from maildesk.store.db import Store

STATIONS = [
    # code, name, language, station mailbox, officer
    ("BHL", "Behala Police Station", "bn", "behala.ps@demo.maildesk", "si.mukherjee@demo.maildesk"),
    ("TLN", "Tilak Nagar Police Station", "mr", "tilaknagar.ps@demo.maildesk",
     "psi.patil@demo.maildesk"),
]

RESIDENTS = [
    ("rina.das@demo.resident", "Rina Das", "behala.ps@demo.maildesk",
     "আমাদের পাড়ায় রাতে জোরে মাইক বাজানো হচ্ছে, দয়া করে ব্যবস্থা নিন",
     "গত তিন দিন ধরে রাত বারোটার পরেও মাইক বাজছে। বয়স্ক মানুষদের খুব অসুবিধা হচ্ছে।"),
    ("arjun.mehta@demo.resident", "Arjun Mehta", "behala.ps@demo.maildesk",
     "Fire in the building next door - people trapped",
     "There is a fire on the second floor of 14 Diamond Harbour Road. Two people are trapped "
     "on the balcony. Please send help now, the fire brigade has been called."),
    ("sunita.verma@demo.resident", "सुनीता वर्मा", "tilaknagar.ps@demo.maildesk",
     "मेरे घर में चोरी हो गई",
     "कल रात हमारे घर में चोरी हो गई। अलमारी से गहने और नकदी गायब हैं। कृपया जांच करें।"),
]

DCP = "dcp@demo.maildesk"
KIND_WORDS = {"ack": "the acknowledgement", "update": "an update", "closed": "the closure"}
URGENCY_WORDS = {"urgent": "URGENT", "semi_urgent": "semi-urgent", "non_urgent": "non-urgent"}


def _resident_mail(sender: str, name: str, to: str, subject: str, body: str) -> bytes:
    # Built with maildesk's own composer: the stdlib's folding can lose the space between
    # encoded words of a Hindi subject, as some residents' clients would not.
    return build_message(from_addr=sender, from_name=name, to_addrs=[to], subject=subject,
                         body=body, message_id=f"{secrets.token_hex(8)}@demo.resident",
                         auto_submitted=None)


def _write_config(workdir: Path, servers, passwords: dict[str, str]) -> Path:  # noqa: ANN001
    data = {
        "maildesk": {"data_dir": str(workdir / "data"), "message_domain": "demo.maildesk",
                     "admins": ["itcell@demo.maildesk"]},
        # The demo's local servers vouch for nobody; a real desk keeps the default (true).
        "defaults": {"poll_seconds": 30, "require_authentication": False,
                     "imap": {"host": servers.imap_host, "port": servers.imap_port,
                              "security": "plain"},
                     "smtp": {"host": servers.smtp_host, "port": servers.smtp_port,
                              "security": "plain"}},
        "zones": [{"code": "DEMO", "name": "Demo Zone", "dcp": [DCP]}],
        "stations": [
            {"code": code, "name": name, "zone": "DEMO", "address": address,
             "language": language, "officers": [{"name": "Duty officer", "address": officer}],
             "imap": {"user": address, "password_env": f"DEMO_{code}_PASSWORD"}, "smtp": {}}
            for code, name, language, address, officer in STATIONS
        ],
    }
    path = workdir / "stations.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    rules = Path(maildesk.__file__).resolve().parent / "config_example" / "rules.yaml"
    (workdir / "rules.yaml").write_text(rules.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def _send(servers, sender: str, to: str, mail: bytes) -> None:  # noqa: ANN001
    """A resident's client hands the mail to the (local) mail server."""
    with smtplib.SMTP(servers.smtp_host, servers.smtp_port, timeout=30) as client:
        client.sendmail(sender, [to], mail)


async def _run_flow(config, servers) -> float:  # noqa: ANN001
    """Start the daemon, let the residents write, wait until every answer went out."""
    daemon = Daemon(config, None)
    running = asyncio.create_task(daemon.run(signals=False))
    started = time.monotonic()
    for sender, name, to, subject, body in RESIDENTS:
        mail = _resident_mail(sender, name, to, subject, body)
        await asyncio.to_thread(_send, servers, sender, to, mail)
    expected = 3 * len(RESIDENTS)  # the residents' mails, the acknowledgements, notifications
    await asyncio.to_thread(servers.wait_for_sent, expected, 60)
    elapsed = time.monotonic() - started
    # The duty officer at Behala answers the urgent notification from their mail client.
    officer, station = STATIONS[0][4], STATIONS[0][3]
    for command in OFFICER_REPLIES:
        notification = _urgent_notification(servers, officer)
        reply = _officer_reply(officer, station, notification, command)
        await asyncio.to_thread(_send, servers, officer, station, reply)
        expected += 3  # the officer's reply, the resident's update, the officer's confirmation
        await asyncio.to_thread(servers.wait_for_sent, expected, 60)
    daemon.request_stop()
    await running
    return elapsed


OFFICER_REPLIES = [
    "#progress Fire brigade and a police team are on the way.",
    "#close The fire brigade put the fire out; both people were brought down unhurt.",
]


def _urgent_notification(servers, officer: str) -> email.message.EmailMessage:  # noqa: ANN001
    for raw in servers.messages(officer):
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        if str(mail["Subject"]).startswith("[URGENT]"):
            return mail  # type: ignore[return-value]
    raise RuntimeError("the urgent notification did not reach the officer")


def _officer_reply(officer: str, station: str, notification, command: str) -> bytes:  # noqa: ANN001
    quoted = "\n".join(f"> {line}" for line in notification.get_content().splitlines()[:6])
    return build_message(
        from_addr=officer, from_name="SI Ananya Mukherjee", to_addrs=[station],
        subject=f"Re: {notification['Subject']}",
        body=f"{command}\n\nOn {notification['Date']}, Behala Police Station wrote:\n{quoted}\n",
        message_id=f"{secrets.token_hex(8)}@demo.officer", auto_submitted=None,
        in_reply_to=str(notification["Message-ID"]).strip("<>"),
        references=[str(notification["Message-ID"]).strip("<>")])


def run_demo(keep: Path | None = None) -> int:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return _demo(keep, "kept")
    with tempfile.TemporaryDirectory(prefix="maildesk-demo-") as workdir:
        return _demo(Path(workdir), "removed at the end; --keep DIR keeps it")


def _demo(workdir: Path, fate: str) -> int:
    from maildesk_demo.servers import start_demo_servers

    logging.getLogger("maildesk").setLevel(logging.WARNING)
    mailboxes = {address: secrets.token_hex(8) for *_, address, _ in STATIONS}
    mailboxes.update({officer: secrets.token_hex(8) for *_, officer in STATIONS})
    mailboxes.update({sender: secrets.token_hex(8) for sender, *_ in RESIDENTS})
    mailboxes[DCP] = secrets.token_hex(8)
    print(f"maildesk demo: local IMAP and SMTP servers on 127.0.0.1, data in {workdir} "
          f"({fate})")
    with start_demo_servers(mailboxes, workdir / "mail") as servers:
        config_path = _write_config(workdir, servers, mailboxes)
        env = {f"DEMO_{code}_PASSWORD": mailboxes[address]
               for code, _, _, address, _ in STATIONS}
        config = load_config(config_path, env=env)
        print(f"{len(RESIDENTS)} residents write to {len(STATIONS)} stations; "
              "the daemon watches the mailboxes...\n")
        elapsed = asyncio.run(_run_flow(config, servers))
        _report(config.data_dir, servers)
        print(f"All {len(RESIDENTS)} complaints acknowledged {elapsed:.1f} s after the first "
              "mail was sent.\n")
        asyncio.run(_send_digest(config))
        _print_digest(servers)
    return 0


async def _send_digest(config) -> None:  # noqa: ANN001
    """The next morning's digest, as the daemon sends it at digest_time (the clock is moved
    forward to then, so that the demo need not wait for 09:00)."""
    now = datetime.now(config.timezone)
    due = datetime.combine(now.date(), config.digest_time, config.timezone)
    if due <= now:
        due += timedelta(days=1)
    desk = Desk.open(config, FakeClock(due.astimezone(UTC) + timedelta(minutes=1)))
    try:
        queue_digest(desk, "DEMO", latest_day(desk))
        await drain_outbox(desk)
    finally:
        desk.close()


def _print_digest(servers) -> None:  # noqa: ANN001
    [raw] = servers.messages(DCP)  # as the DCP's mailbox received it
    digest = email.message_from_bytes(raw, policy=email.policy.default)
    text = digest.get_body(preferencelist=("plain",))
    print(f"The DCP received the morning digest: \"{digest['Subject']}\" "
          "(HTML, with this plain-text part):")
    for line in text.get_content().rstrip().splitlines():  # type: ignore[union-attr]
        print(f"  | {line}")


def _report(data_dir: Path, servers) -> None:  # noqa: ANN001
    store = Store(data_dir)
    for complaint in reversed(store.complaints()):
        print(f"{complaint['code']}  {URGENCY_WORDS[complaint['urgency']]:<11} "
              f"from {complaint['resident_addr']} (language: {complaint['language']})")
        print(f"    subject: {complaint['subject']}")
        for reason in complaint["reasons"]:
            print(f"    why: {reason}")
        kinds = {r["message_id"]: r["kind"] for r in store.outbox("complaint_id = ?",
                                                                   (complaint["id"],))}
        for raw in servers.messages(complaint["resident_addr"]):  # the resident's own INBOX
            mail = email.message_from_bytes(raw, policy=email.policy.default)
            kind = KIND_WORDS.get(kinds.get(str(mail["Message-ID"]).strip("<>"), ""), "")
            if kind:
                print(f"    the resident received {kind}: \"{mail['Subject']}\"")
        for row in store.outbox("complaint_id = ? AND kind = 'notify'", (complaint["id"],)):
            note = email.message_from_bytes(row["raw"], policy=email.policy.default)
            print(f"    the officers received: \"{note['Subject']}\"")
        for event in store.events(complaint["id"]):
            if event["action"] in ("progress", "closed"):
                print(f"    {event['actor']} replied #{event['action'].removesuffix('d')}: "
                      f"{event['detail'].get('note', '')}")
        if complaint["status"] == "closed":
            _print_closure(store, complaint)
        print()
    store.close()


def _print_closure(store: Store, complaint: dict) -> None:
    [row] = store.outbox("complaint_id = ? AND kind = 'closed'", (complaint["id"],))
    closure = email.message_from_bytes(row["raw"], policy=email.policy.default)
    print("    the closure reads:")
    for line in closure.get_content().strip().splitlines():  # type: ignore[attr-defined]
        print(f"      | {line}")
