"""The demo IMAP (pymap) and SMTP (aiosmtpd) servers behind ``maildesk demo``.

Each IMAP feature maildesk's client relies on is exercised here with imapclient, the
library maildesk itself uses, so a pymap upgrade that drops one fails loudly.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from maildesk_demo.servers import DemoMailServers, start_demo_servers

STATION = "behala.ps@demo.maildesk.local"
RESIDENT = "resident.one@demo.maildesk.local"
MAILBOXES = {STATION: "station-secret", RESIDENT: "resident-secret"}

# CRLF line endings, 8-bit UTF-8, a dot-leading line and a trailing space: everything a
# server or client might "helpfully" rewrite.
RAW = (
    b"From: Resident One <resident.one@demo.maildesk.local>\r\n"
    b"To: behala.ps@demo.maildesk.local\r\n"
    b"Subject: Complaint about noise\r\n"
    b"Message-ID: <c1@demo.maildesk.local>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
) + (
    # Bengali text, as residents write it.
    "Loudspeakers after 10 pm \u2014 \u09ac\u09be\u0982\u09b2\u09be \r\n"
    ".a line starting with a dot\r\n"
).encode()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[DemoMailServers]:
    with start_demo_servers(MAILBOXES, tmp_path) as running:
        yield running


@pytest.fixture
def station(servers: DemoMailServers) -> Iterator[IMAPClient]:
    client = IMAPClient(servers.imap_host, port=servers.imap_port, ssl=False, timeout=10)
    client.login(STATION, MAILBOXES[STATION])
    yield client
    client.logout()


def _mail(to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "officer@police.example"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Your complaint has been registered.\n")
    return msg


def test_listens_on_loopback_free_ports(servers: DemoMailServers, tmp_path: Path) -> None:
    assert servers.imap_host == servers.smtp_host == "127.0.0.1"
    assert servers.imap_port > 0 and servers.smtp_port > 0
    assert servers.imap_port != servers.smtp_port
    assert servers.workdir == tmp_path


def test_capabilities_cover_what_maildesk_uses(station: IMAPClient) -> None:
    caps = set(station.capabilities())
    assert {b"IMAP4REV1", b"UIDPLUS", b"MOVE", b"IDLE"} <= caps
    assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps


def test_append_then_fetch_is_byte_identical(servers: DemoMailServers) -> None:
    servers.append(STATION, RAW)
    assert servers.messages(STATION) == [RAW]
    # The other mailbox is separate.
    assert servers.messages(RESIDENT) == []


def test_append_into_new_folder_creates_it(servers: DemoMailServers) -> None:
    servers.append(RESIDENT, RAW, folder="Archive/2024")
    assert servers.messages(RESIDENT, "Archive/2024") == [RAW]
    assert servers.messages(RESIDENT) == []


def test_select_reports_stable_uidvalidity(servers: DemoMailServers, station: IMAPClient) -> None:
    first = station.select_folder("INBOX")[b"UIDVALIDITY"]
    assert isinstance(first, int) and first > 0
    servers.append(STATION, RAW)
    with servers.imap_client(STATION) as other_session:
        assert other_session.select_folder("INBOX")[b"UIDVALIDITY"] == first
    assert station.select_folder("INBOX")[b"UIDVALIDITY"] == first


def test_uid_search_and_fetch_body_peek(servers: DemoMailServers, station: IMAPClient) -> None:
    for n in range(3):
        servers.append(STATION, RAW.replace(b"noise", b"noise %d" % n))
    station.select_folder("INBOX")
    uids = station.search("ALL")
    assert len(uids) == 3 and uids == sorted(uids)
    newer = station.search(["UID", f"{uids[1]}:*"])
    assert newer == uids[1:]
    fetched = station.fetch(uids[:1], ["BODY.PEEK[]", "FLAGS"])
    assert fetched[uids[0]][b"BODY[]"] == RAW.replace(b"noise", b"noise 0")
    # PEEK must not mark the message seen.
    assert b"\\Seen" not in fetched[uids[0]][b"FLAGS"]
    assert station.search("UNSEEN") == uids


def test_create_folder_and_uid_move(servers: DemoMailServers, station: IMAPClient) -> None:
    servers.append(STATION, RAW)
    station.create_folder("maildesk/processed")
    assert station.folder_exists("maildesk/processed")
    station.select_folder("INBOX")
    uids = station.search("ALL")
    station.move(uids, "maildesk/processed")
    assert station.search("ALL") == []
    assert servers.messages(STATION) == []
    assert servers.messages(STATION, "maildesk/processed") == [RAW]


def test_copy_store_deleted_expunge(servers: DemoMailServers, station: IMAPClient) -> None:
    # The fallback path for servers without MOVE.
    servers.append(STATION, RAW)
    station.create_folder("Done")
    station.select_folder("INBOX")
    uids = station.search("ALL")
    station.copy(uids, "Done")
    station.add_flags(uids, [b"\\Deleted"])
    station.uid_expunge(uids)
    assert servers.messages(STATION) == []
    assert servers.messages(STATION, "Done") == [RAW]


def test_idle_reports_new_mail(servers: DemoMailServers, station: IMAPClient) -> None:
    station.select_folder("INBOX")
    station.idle()
    try:
        servers.append(STATION, RAW)
        responses = station.idle_check(timeout=10)
    finally:
        station.idle_done()
    assert (1, b"EXISTS") in responses


@pytest.mark.parametrize(
    ("user", "password"),
    [
        (STATION, "wrong"),
        (STATION, MAILBOXES[RESIDENT]),  # another mailbox's password
        ("nobody@demo.maildesk.local", "station-secret"),
    ],
)
def test_bad_credentials_are_refused(servers: DemoMailServers, user: str, password: str) -> None:
    client = IMAPClient(servers.imap_host, port=servers.imap_port, ssl=False, timeout=10)
    try:
        with pytest.raises(LoginError):
            client.login(user, password)
    finally:
        client.shutdown()


def test_add_mailbox_after_start(servers: DemoMailServers) -> None:
    servers.add_mailbox("jadavpur.ps@demo.maildesk.local", "pw")
    servers.append("jadavpur.ps@demo.maildesk.local", RAW)
    assert servers.messages("jadavpur.ps@demo.maildesk.local") == [RAW]
    with pytest.raises(KeyError):
        servers.messages("unknown@demo.maildesk.local")


def test_smtp_mail_lands_in_recipient_inbox(servers: DemoMailServers, tmp_path: Path) -> None:
    with smtplib.SMTP(servers.smtp_host, servers.smtp_port, timeout=10) as smtp:
        smtp.sendmail("officer@police.example", [STATION], RAW)
    sent = servers.wait_for_sent(1)
    assert sent == [("officer@police.example", [STATION], RAW)]
    # Delivered before the SMTP server answered, so no waiting for the INBOX.
    assert servers.messages(STATION) == [RAW]
    assert servers.messages(RESIDENT) == []
    assert (tmp_path / "sent" / "0001.eml").read_bytes() == RAW


def test_smtp_delivers_to_every_local_recipient_once(servers: DemoMailServers) -> None:
    msg = _mail(RESIDENT, "Acknowledgement")
    recipients = [RESIDENT.upper(), STATION, "outsider@example.org", RESIDENT]
    with smtplib.SMTP(servers.smtp_host, servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg, from_addr=STATION, to_addrs=recipients)
    [(mail_from, rcpt_tos, data)] = servers.wait_for_sent(1)
    assert mail_from == STATION and rcpt_tos == recipients
    assert servers.messages(RESIDENT) == [data]
    assert servers.messages(STATION) == [data]
    assert b"Subject: Acknowledgement" in data


def test_aiosmtplib_like_maildesk_sends(servers: DemoMailServers) -> None:
    msg = _mail(RESIDENT, "Sent the way maildesk sends")

    async def send() -> None:
        await aiosmtplib.send(
            msg, hostname=servers.smtp_host, port=servers.smtp_port, start_tls=False
        )

    asyncio.run(send())
    [(mail_from, rcpt_tos, _)] = servers.wait_for_sent(1)
    assert (mail_from, rcpt_tos) == ("officer@police.example", [RESIDENT])
    [delivered] = servers.messages(RESIDENT)
    assert b"Subject: Sent the way maildesk sends" in delivered


def test_wait_for_sent_wakes_on_mail_from_another_thread(servers: DemoMailServers) -> None:
    def send_two() -> None:
        with smtplib.SMTP(servers.smtp_host, servers.smtp_port, timeout=10) as smtp:
            for n in range(2):
                smtp.send_message(_mail(STATION, f"update {n}"))

    sender = threading.Thread(target=send_two)
    sender.start()
    try:
        sent = servers.wait_for_sent(2, timeout=10)
    finally:
        sender.join()
    assert [data.count(b"update") for _, _, data in sent] == [1, 1]
    assert len(servers.messages(STATION)) == 2
    assert servers.sent() == sent


def test_failed_local_delivery_is_a_temporary_smtp_error(
    servers: DemoMailServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_delivery(login: str, password: str, data: bytes) -> None:
        raise ConnectionResetError("IMAP went away\r\n")

    monkeypatch.setattr(servers._handler, "_deliver", broken_delivery)
    with smtplib.SMTP(servers.smtp_host, servers.smtp_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("officer@police.example", [STATION], RAW)
    assert refused.value.smtp_code == 451
    assert servers.sent() == []


def test_wait_for_sent_times_out(servers: DemoMailServers) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        servers.wait_for_sent(1, timeout=0.05)


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_start_twice_and_stop_leaves_nothing_behind(tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    for round_ in range(2):
        servers = start_demo_servers(MAILBOXES, tmp_path / str(round_))
        # A client still connected (and idling) at stop must not hold the server up.
        lingering = IMAPClient(servers.imap_host, port=servers.imap_port, ssl=False, timeout=10)
        lingering.login(STATION, MAILBOXES[STATION])
        lingering.select_folder("INBOX")
        lingering.idle()
        servers.append(STATION, RAW)
        with smtplib.SMTP(servers.smtp_host, servers.smtp_port, timeout=10) as smtp:
            smtp.sendmail(RESIDENT, [STATION], RAW)
        servers.wait_for_sent(1)
        # Fresh servers, fresh mailboxes.
        assert servers.messages(STATION) == [RAW, RAW]
        servers.stop()
        servers.stop()  # idempotent
        lingering.shutdown()
        assert _refuses_connections(servers.imap_port)
        assert _refuses_connections(servers.smtp_port)
    assert set(threading.enumerate()) == threads_before
