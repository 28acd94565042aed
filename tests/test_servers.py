"""The test servers themselves: prove that the fixtures work and that they can fail."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import time

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from servers import Dovecot, MailboxUser, SmtpRecorder

# Raw messages with CRLF line endings and 8-bit UTF-8 (Bengali) in the body: what arrives
# must be byte-identical, so nothing on the way may re-encode or re-wrap them.
MAIL_1 = (
    b"From: Resident <resident@example.org>\r\n"
    b"To: oc.behala@police.test\r\n"
    b"Subject: Streetlight broken on Diamond Harbour Road\r\n"
    b"Message-ID: <one@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"The streetlight near the bus stop has been out for a week.\r\n"
    + "রাস্তার আলো এক সপ্তাহ ধরে বন্ধ।\r\n".encode()
)
MAIL_2 = (
    b"From: Someone <someone@example.org>\r\n"
    b"To: oc.behala@police.test\r\n"
    b"Subject: Second complaint\r\n"
    b"Message-ID: <two@example.org>\r\n"
    b"\r\n"
    b".a line starting with a dot (tests SMTP dot-stuffing)\r\n"
)


# --------------------------------------------------------------------------------------------
# Dovecot
# --------------------------------------------------------------------------------------------


def test_append_then_fetch_back_byte_identical(dovecot: Dovecot, mailbox_user: MailboxUser) -> None:
    uid1 = dovecot.append(mailbox_user.name, MAIL_1)
    uid2 = dovecot.append(mailbox_user.name, MAIL_2)

    assert uid1 < uid2
    assert dovecot.folder_uids(mailbox_user.name) == [uid1, uid2]
    assert dovecot.fetch_all(mailbox_user.name) == [MAIL_1, MAIL_2]


def test_mailbox_user_is_fresh_and_reachable(dovecot: Dovecot, mailbox_user: MailboxUser) -> None:
    assert (mailbox_user.host, mailbox_user.port) == (dovecot.host, dovecot.port)
    with IMAPClient(mailbox_user.host, port=mailbox_user.port, ssl=False, timeout=10) as imap:
        imap.login(mailbox_user.name, mailbox_user.password)
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
        assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= set(imap.capabilities())


def test_users_are_isolated_and_wrong_password_fails(dovecot: Dovecot) -> None:
    alice = dovecot.add_user("isoalice", "secret-a")
    bob = dovecot.add_user("isobob", "secret-b")
    dovecot.append(alice.name, MAIL_1)

    assert dovecot.fetch_all(alice.name) == [MAIL_1]
    assert dovecot.fetch_all(bob.name) == []
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as imap:
        with pytest.raises(LoginError):
            imap.login(alice.name, bob.password)


def test_users_added_back_to_back_can_log_in_at_once(dovecot: Dovecot) -> None:
    # Regression: with one shared passwd-file Dovecot re-reads it at most once per second,
    # so a user added right after another user's login was rejected.
    for n in range(5):
        user = dovecot.add_user(f"burst{n}", f"pw{n}")
        assert dovecot.folder_uids(user.name) == []


def test_add_user_rejects_names_that_break_files(dovecot: Dovecot) -> None:
    for bad in ("", "../evil", "a:b", "a b", ".hidden"):
        with pytest.raises(ValueError):
            dovecot.add_user(bad, "pw")
    with pytest.raises(ValueError):
        dovecot.add_user("okname", "pass:word")


def test_move_to_new_folder_leaves_inbox(dovecot: Dovecot, mailbox_user: MailboxUser) -> None:
    keep = dovecot.append(mailbox_user.name, MAIL_1)
    moved = dovecot.append(mailbox_user.name, MAIL_2)

    with dovecot.client(mailbox_user.name) as imap:
        imap.create_folder("Processed")
        imap.select_folder("INBOX")
        imap.move([moved], "Processed")

    assert dovecot.folder_uids(mailbox_user.name, "INBOX") == [keep]
    assert dovecot.fetch_all(mailbox_user.name, "Processed") == [MAIL_2]


def test_append_creates_missing_folder(dovecot: Dovecot, mailbox_user: MailboxUser) -> None:
    uid = dovecot.append(mailbox_user.name, MAIL_1, "Archive", flags=[r"\Seen"])

    assert dovecot.folder_uids(mailbox_user.name, "Archive") == [uid]
    with dovecot.client(mailbox_user.name) as imap:
        imap.select_folder("Archive", readonly=True)
        assert rb"\Seen" in imap.get_flags([uid])[uid]


def test_uidvalidity_reset_changes_uidvalidity_and_keeps_mail(
    dovecot: Dovecot, mailbox_user: MailboxUser
) -> None:
    dovecot.append(mailbox_user.name, MAIL_1)
    dovecot.append(mailbox_user.name, MAIL_2)
    with dovecot.client(mailbox_user.name) as imap:
        before = imap.select_folder("INBOX")[b"UIDVALIDITY"]

    dovecot.set_uidvalidity_reset(mailbox_user.name)

    with dovecot.client(mailbox_user.name) as imap:
        after = imap.select_folder("INBOX")[b"UIDVALIDITY"]
    assert after != before
    assert dovecot.fetch_all(mailbox_user.name) == [MAIL_1, MAIL_2]


def test_uidvalidity_reset_of_other_folder(dovecot: Dovecot, mailbox_user: MailboxUser) -> None:
    dovecot.append(mailbox_user.name, MAIL_1, "Processed")
    inbox_before = dovecot.uidvalidity(mailbox_user.name)
    before = dovecot.uidvalidity(mailbox_user.name, "Processed")

    dovecot.set_uidvalidity_reset(mailbox_user.name, "Processed")

    assert dovecot.uidvalidity(mailbox_user.name, "Processed") != before
    assert dovecot.uidvalidity(mailbox_user.name) == inbox_before
    assert dovecot.fetch_all(mailbox_user.name, "Processed") == [MAIL_1]


def test_idle_client_sees_exists_when_mail_arrives(
    dovecot: Dovecot, mailbox_user: MailboxUser
) -> None:
    with dovecot.client(mailbox_user.name) as watcher:
        watcher.select_folder("INBOX")
        watcher.idle()
        try:
            dovecot.append(mailbox_user.name, MAIL_1)  # a second connection
            seen: list[tuple[object, ...]] = []
            deadline = time.monotonic() + 10
            # idle_check blocks until the server pushes something (or the timeout): the
            # EXISTS is a real event from Dovecot, not something we wait out.
            while not any(r[1:2] == (b"EXISTS",) for r in seen):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no EXISTS while idling; got {seen!r}"
                seen.extend(watcher.idle_check(timeout=remaining))
        finally:
            watcher.idle_done()
    assert (1, b"EXISTS") in seen


def test_user_activity_logs_no_errors(dovecot: Dovecot, mailbox_user: MailboxUser) -> None:
    # Catches configuration problems that Dovecot reports only in its log (e.g. an
    # unprivileged process unable to reach a socket or a directory when running as root).
    dovecot.append(mailbox_user.name, MAIL_1)
    dovecot.fetch_all(mailbox_user.name)
    problems = [
        line
        for line in dovecot.log_path.read_text(errors="replace").splitlines()
        if mailbox_user.name in line and any(w in line for w in ("Error:", "Fatal:", "Panic:"))
    ]
    assert problems == []


def test_dovecot_identity(dovecot: Dovecot) -> None:
    assert dovecot.pid > 0 and dovecot.is_running()
    assert dovecot.host == "127.0.0.1"
    assert (dovecot.workdir / "dovecot.conf").is_file()
    with (
        socket.create_connection((dovecot.host, dovecot.port), timeout=5) as sock,
        sock.makefile("rb") as stream,
    ):
        assert stream.readline().startswith(b"* OK")


def test_dovecot_start_and_stop_by_pid(dovecot: Dovecot) -> None:
    # A second, short-lived server in a directory of its own, so that the session one is
    # not disturbed.  (The `dovecot` fixture is only asked for its skip/fail-if-missing.)
    server = Dovecot.start()
    try:
        server.add_user("solo", "pw")
        assert server.fetch_all("solo") == []
        assert server.is_running()
    finally:
        server.stop()
    assert not server.is_running()
    assert not server.workdir.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=5).close()


# --------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------


def _send(recorder: SmtpRecorder, raw: bytes, to: list[str] | None = None) -> None:
    with smtplib.SMTP(recorder.host, recorder.port, timeout=10) as client:
        client.sendmail("desk@maildesk.test", to or ["oc.behala@police.test"], raw)


def test_smtp_records_raw_message(smtp: SmtpRecorder) -> None:
    _send(smtp, MAIL_1, ["oc.behala@police.test", "dc.south@police.test"])
    _send(smtp, MAIL_2)

    first, second = smtp.wait_for(2)

    assert first.mail_from == "desk@maildesk.test"
    assert first.rcpt_tos == ["oc.behala@police.test", "dc.south@police.test"]
    assert first.data == MAIL_1
    assert second.data == MAIL_2  # the leading dot survived stuffing and unstuffing
    assert smtp.messages == [first, second]
    smtp.clear()
    assert smtp.messages == []


def test_smtp_wait_for_times_out_with_a_useful_message(smtp: SmtpRecorder) -> None:
    _send(smtp, MAIL_2)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"expected at least 2 message\(s\).*got 1"):
        smtp.wait_for(2, timeout=0.3)
    assert time.monotonic() - started < 5


def test_smtp_accepts_aiosmtplib(smtp: SmtpRecorder) -> None:
    # maildesk itself sends with aiosmtplib: plain, no STARTTLS offered, optional login.
    async def send() -> None:
        await aiosmtplib.send(
            MAIL_1,
            sender="desk@maildesk.test",
            recipients=["oc.behala@police.test"],
            hostname=smtp.host,
            port=smtp.port,
            username="oc.behala@police.test",
            password="anything",
            use_tls=False,
            start_tls=False,
            timeout=10,
        )

    asyncio.run(send())

    [received] = smtp.wait_for(1)
    assert received.data == MAIL_1
    assert smtp.logins == ["oc.behala@police.test"]


def test_smtp_fail_with_451_on_data(smtp: SmtpRecorder) -> None:
    smtp.fail_with(451)
    with pytest.raises(smtplib.SMTPDataError) as excinfo:
        _send(smtp, MAIL_1)
    assert excinfo.value.smtp_code == 451
    assert smtp.messages == []

    smtp.fail_with(None)
    _send(smtp, MAIL_1)
    assert [m.data for m in smtp.wait_for(1)] == [MAIL_1]


def test_smtp_fail_with_on_rcpt(smtp: SmtpRecorder) -> None:
    smtp.fail_with(451, at="RCPT")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
        _send(smtp, MAIL_1)
    assert excinfo.value.recipients["oc.behala@police.test"][0] == 451

    smtp.fail_with(550, "5.1.1 No such mailbox", at="RCPT")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
        _send(smtp, MAIL_1)
    assert excinfo.value.recipients["oc.behala@police.test"] == (550, b"5.1.1 No such mailbox")
    assert smtp.messages == []


def test_smtp_stop_refuses_and_start_serves_on_same_port(smtp: SmtpRecorder) -> None:
    port = smtp.port
    connected = smtplib.SMTP(smtp.host, port, timeout=10)
    connected.ehlo()

    smtp.stop()

    # An open connection is dropped, new ones are refused.
    with pytest.raises(smtplib.SMTPServerDisconnected):
        connected.sendmail("desk@maildesk.test", ["oc.behala@police.test"], MAIL_1)
    connected.close()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp.host, port, timeout=10)

    smtp.start()

    assert smtp.port == port
    _send(smtp, MAIL_2)
    assert [m.data for m in smtp.wait_for(1)] == [MAIL_2]


def test_smtp_with_credentials_requires_login() -> None:
    with SmtpRecorder(credentials={"desk": "right"}) as recorder:
        with smtplib.SMTP(recorder.host, recorder.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("desk", "wrong")
            with pytest.raises(smtplib.SMTPSenderRefused) as excinfo:
                client.sendmail("desk@maildesk.test", ["oc.behala@police.test"], MAIL_1)
            assert excinfo.value.smtp_code == 530
        with smtplib.SMTP(recorder.host, recorder.port, timeout=10) as client:
            client.login("desk", "right")
            client.sendmail("desk@maildesk.test", ["oc.behala@police.test"], MAIL_1)
        assert [m.data for m in recorder.wait_for(1)] == [MAIL_1]
        assert recorder.logins == ["desk"]


def test_uidvalidity_reset_drops_a_session_with_the_folder_selected(
    dovecot: Dovecot, mailbox_user: MailboxUser
) -> None:
    dovecot.append(mailbox_user.name, MAIL_1)
    imap = dovecot.client(mailbox_user.name)
    try:
        imap.select_folder("INBOX")
        dovecot.set_uidvalidity_reset(mailbox_user.name)
        with pytest.raises(IMAPClient.AbortError):
            imap.noop()
    finally:
        imap.shutdown()
