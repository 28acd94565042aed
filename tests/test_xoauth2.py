"""XOAUTH2 (Gmail, Microsoft 365): the access token comes from the environment (`token_env`),
SMTP sends with it to the recording server, IMAP logs in with it to a small fake server
(Dovecot's oauth2 passdb needs an introspection service; the fake checks the exact SASL
response instead), and the configuration refuses the wrong kind of secret."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from pathlib import Path

import pytest
import yaml
from deskenv import REPO, StationAccount, fixture, parse, write_config
from servers import SmtpRecorder

from maildesk.config.settings import Server, load_config
from maildesk.daemon import poll_once
from maildesk.errors import ConfigError, PermanentError
from maildesk.intake.imap import Mailbox
from maildesk.store.db import Store

DEADLINE = 10
USER = "bhl.ps@maildesk.test"
TOKEN = "ya29.a0-current-access-token"


# -- SMTP -------------------------------------------------------------------------------------

def smtp_with_token(tmp_path: Path, dovecot, mailbox_user, smtp: SmtpRecorder, token: str):
    """BHL reads its mailbox with a password (Dovecot) and sends with XOAUTH2."""
    bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password,
                         ("si.roy@maildesk.test",))
    path, env = write_config(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                             [bhl])
    data = yaml.safe_load(path.read_text())
    data["stations"][0]["smtp"] = {"user": USER, "auth": "xoauth2", "token_env": "BHL_TOKEN"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    config = load_config(path, env={**env, "BHL_TOKEN": token})
    assert config.station("BHL").smtp.auth == "xoauth2"
    assert token not in repr(config.station("BHL"))
    dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
    return config


def test_smtp_sends_with_an_access_token(tmp_path, dovecot, mailbox_user):
    with SmtpRecorder(credentials={USER: TOKEN}) as smtp:
        config = smtp_with_token(tmp_path, dovecot, mailbox_user, smtp, TOKEN)
        report = asyncio.run(poll_once(config))
        assert report.sent.sent == 2  # the acknowledgement and the officers' notification
        assert set(smtp.logins) == {USER}  # the two mails may go over two connections
        resident = parse(fixture("en_urgent_fire.eml"))["From"].addresses[0].addr_spec.lower()
        assert any(resident in m.rcpt_tos for m in smtp.messages)


def test_smtp_with_a_stale_token_retries(tmp_path, dovecot, mailbox_user):
    # A refused login fails the connection, not the mails: they wait for a fresh token.
    with SmtpRecorder(credentials={USER: TOKEN}) as smtp:
        config = smtp_with_token(tmp_path, dovecot, mailbox_user, smtp, "ya29.expired")
        report = asyncio.run(poll_once(config))
        assert (report.sent.sent, report.sent.retrying, report.sent.failed) == (0, 2, 0)
        assert smtp.logins == [] and smtp.messages == []
        rows = Store(config.data_dir).outbox()
        assert all("SMTP login refused" in row["last_error"] for row in rows)
        assert Store(config.data_dir).outbox_counts() == {"pending": 2}


# -- IMAP -------------------------------------------------------------------------------------

class FakeOauthImap:
    """One connection: greeting, AUTHENTICATE XOAUTH2, CAPABILITY, SELECT, SEARCH, LOGOUT."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEADLINE)
        self.port = self.listener.getsockname()[1]
        self.responses: list[bytes] = []  # the decoded SASL responses the client sent
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="fake-oauth-imap", daemon=True)

    def __enter__(self) -> FakeOauthImap:
        self.thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.listener.close()
        self.thread.join(DEADLINE)
        if exc_type is None and self.error is not None:
            raise self.error

    def server(self, token: str) -> Server:
        return Server(host="127.0.0.1", port=self.port, security="plain", user=USER,
                      password=token, timeout=DEADLINE, auth="xoauth2")

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn, conn.makefile("rb") as reader:
                conn.settimeout(DEADLINE)
                self._converse(conn, reader)
        except BaseException as exc:  # noqa: BLE001 - reported by __exit__ in the test
            self.error = exc

    def _converse(self, conn: socket.socket, reader) -> None:
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] fake ready\r\n")
        while line := reader.readline():
            tag, command, *args = line.split()
            command = command.upper()
            if command == b"AUTHENTICATE" and args[0].upper() == b"XOAUTH2":
                if len(args) == 1:  # no SASL-IR: the response follows a continuation
                    conn.sendall(b"+ \r\n")
                    args.append(reader.readline().strip())
                self.responses.append(base64.b64decode(args[1]))
                expected = f"user={USER}\x01auth=Bearer {self.token}\x01\x01".encode()
                if self.responses[-1] == expected:
                    conn.sendall(tag + b" OK [CAPABILITY IMAP4rev1] authenticated\r\n")
                else:  # as Gmail: an error challenge, answered by the client, then NO
                    conn.sendall(b"+ " + base64.b64encode(b'{"status":"401"}') + b"\r\n")
                    reader.readline()
                    conn.sendall(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
            elif command == b"CAPABILITY":
                conn.sendall(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
            elif command == b"SELECT":
                conn.sendall(b"* 2 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Deleted)\r\n"
                             b"* OK [UIDVALIDITY 42] ok\r\n* OK [UIDNEXT 8] ok\r\n"
                             + tag + b" OK [READ-WRITE] selected\r\n")
            elif command == b"UID" and args[0].upper() == b"SEARCH":
                conn.sendall(b"* SEARCH 5 7\r\n" + tag + b" OK done\r\n")
            elif command == b"LOGOUT":
                conn.sendall(b"* BYE see you\r\n" + tag + b" OK bye\r\n")
                return
            else:
                conn.sendall(tag + b" BAD unknown command\r\n")


def test_imap_logs_in_with_xoauth2():
    with FakeOauthImap(TOKEN) as fake:
        mailbox = Mailbox(fake.server(TOKEN))
        mailbox.connect()
        try:
            assert mailbox.select_inbox() == 42
            assert mailbox.uids() == [5, 7]
        finally:
            mailbox.close()
    assert fake.responses == [f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode()]


def test_imap_stale_token_is_a_refused_login():
    with FakeOauthImap(TOKEN) as fake:
        with pytest.raises(PermanentError, match="IMAP login refused"):
            Mailbox(fake.server("ya29.expired")).connect()
    assert fake.responses[0] == f"user={USER}\x01auth=Bearer ya29.expired\x01\x01".encode()


# -- configuration ----------------------------------------------------------------------------

def stations_yaml(tmp_path: Path, imap: str) -> Path:
    (tmp_path / "rules.yaml").write_text((REPO / "config" / "rules.yaml").read_text())
    path = tmp_path / "stations.yaml"
    path.write_text(f"""\
defaults:
  imap: {{host: imap.gmail.com}}
  smtp: {{host: smtp.gmail.com, auth: xoauth2, token_env: BHL_TOKEN}}
zones:
  - {{code: KOL-NE, name: Kolkata North and East}}
stations:
  - code: BHL
    name: Behala Police Station
    zone: KOL-NE
    address: {USER}
    imap: {imap}
    smtp: {{user: {USER}}}
    require_authentication: false
""")
    return path


def test_xoauth2_token_from_the_environment(tmp_path):
    path = stations_yaml(tmp_path, f"{{user: {USER}, auth: xoauth2, token_env: BHL_TOKEN}}")
    station = load_config(path, env={"BHL_TOKEN": TOKEN}).station("BHL")
    for server in (station.imap, station.smtp):  # smtp takes auth and token_env from defaults
        assert (server.auth, server.user, server.password) == ("xoauth2", USER, TOKEN)


@pytest.mark.parametrize(("imap", "key", "words"), [
    (f"{{user: {USER}, auth: xoauth2, password_env: BHL_TOKEN}}", "password_env",
     "not used with auth: xoauth2; write 'token_env: VARIABLE_NAME'"),
    (f"{{user: {USER}, token_env: BHL_TOKEN}}", "token_env",
     "not used with auth: password; write 'password_env: VARIABLE_NAME'"),
    (f"{{user: {USER}, auth: oauth}}", "auth", "not one of: password, xoauth2"),
    (f"{{user: {USER}, auth: xoauth2, password: hunter2}}", "password",
     "not used with auth: xoauth2"),
    (f"{{user: {USER}, auth: xoauth2, token: ya29.x}}", "token",
     "secrets do not belong in the YAML"),
])
def test_wrong_secret_for_the_auth_is_named_with_file_line(tmp_path, imap, key, words):
    path = stations_yaml(tmp_path, imap)
    with pytest.raises(ConfigError) as error:
        load_config(path, env={"BHL_TOKEN": TOKEN})
    message = str(error.value)
    assert message.startswith(f"{path}:11: stations[0].imap.{key}: "), message
    assert words in message, message
