"""OAuth2 renewal by maildesk itself: a token endpoint on loopback (a small HTTP server in
the test; no real provider is ever called) hands out access tokens for a refresh token; SMTP
sends with them to the recording server, IMAP logs in with them to the fake XOAUTH2 server,
tokens are stored readable by the service user only, and a failed renewal alerts the
administrators by mail, and again when it works once more."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml
from deskenv import StationAccount, fixture, parse, write_config
from servers import SmtpRecorder
from test_xoauth2 import USER, FakeOauthImap

from maildesk.config.settings import Server, load_config
from maildesk.daemon import poll_once
from maildesk.desk import Desk
from maildesk.errors import ConfigError
from maildesk.intake.imap import Mailbox
from maildesk.mail.oauth import OAuthClient, TokenRenewalError, access_token, read_state
from maildesk.metrics import DeskCollector
from maildesk.sweeps.escalate import escalate_once

CLIENT_ID, CLIENT_SECRET = "maildesk-test-client", "client-secret-1"


class TokenEndpoint:
    """RFC 6749 refresh grant: accepts the current refresh token, answers a new access
    token and a new (rotated) refresh token, or fails as told."""

    def __init__(self) -> None:
        self.refresh_token = "refresh-1"
        self.issued = 0
        self.requests: list[dict[str, str]] = []
        self.failing = False
        self.owner = USER  # whose mailbox the access tokens open (RFC 7662 "username")
        self.introspected: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if self.path == "/introspect":
                    self._answer(200, endpoint.introspect(form.get("token", "")))
                    return
                endpoint.requests.append(form)
                ok = (not endpoint.failing and form.get("grant_type") == "refresh_token"
                      and form.get("refresh_token") == endpoint.refresh_token
                      and form.get("client_id") == CLIENT_ID
                      and form.get("client_secret") == CLIENT_SECRET)
                if ok:
                    endpoint.issued += 1
                    endpoint.refresh_token = f"refresh-{endpoint.issued + 1}"
                    reply = {"access_token": f"access-{endpoint.issued}", "expires_in": 3600,
                             "token_type": "Bearer", "refresh_token": endpoint.refresh_token}
                    status = 200
                else:
                    reply = {"error": "invalid_grant",
                             "error_description": "Token has been expired or revoked."}
                    status = 400
                self._answer(status, reply)

            def _answer(self, status: int, reply: dict) -> None:
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.introspection_url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def introspect(self, token: str) -> dict:
        """RFC 7662, as a mail server asks it: is this access token live, and whose is it?"""
        self.introspected.append(token)
        issued = {f"access-{n}" for n in range(1, self.issued + 1)}
        if token in issued and not self.failing:
            return {"active": "true", "username": self.owner}
        return {"active": "false"}

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def endpoint():
    with TokenEndpoint() as running:
        yield running


def oauth_keys(endpoint: TokenEndpoint) -> dict:
    return {"user": USER, "auth": "xoauth2", "token_url": endpoint.url, "client_id": CLIENT_ID,
            "client_secret_env": "BHL_CLIENT_SECRET", "refresh_token_env": "BHL_REFRESH",
            "scope": "https://mail.google.com/"}


def desk_config(tmp_path: Path, dovecot, mailbox_user, smtp: SmtpRecorder, endpoint,
                service: str):
    """BHL with `service` (imap or smtp) signing in by OAuth2 renewal; the other by password."""
    bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password,
                         ("si.roy@maildesk.test",))
    path, env = write_config(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                             [bhl])
    data = yaml.safe_load(path.read_text())
    data["stations"][0][service] = oauth_keys(endpoint)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**env, "BHL_CLIENT_SECRET": CLIENT_SECRET, "BHL_REFRESH": "refresh-1"}
    return load_config(path, env=env), bhl


def test_smtp_renews_its_token_once_and_stores_it_privately(tmp_path, dovecot, mailbox_user,
                                                            endpoint):
    with SmtpRecorder(credentials={USER: "access-1"}) as smtp:
        config, bhl = desk_config(tmp_path, dovecot, mailbox_user, smtp, endpoint, "smtp")
        oauth = config.station("BHL").smtp.oauth
        assert oauth is not None and CLIENT_SECRET not in repr(config.station("BHL"))
        dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
        report = asyncio.run(poll_once(config))
        assert (report.sent.sent, report.sent.retrying) == (2, 0), report.sent.errors
        assert set(smtp.logins) == {USER}
        dovecot.append(bhl.user, fixture("hi_theft.eml"))
        assert asyncio.run(poll_once(config)).sent.sent == 2
    # Four mails over several connections, one renewal: the stored token is reused.
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0]["refresh_token"] == "refresh-1"
    mode = stat.S_IMODE(oauth.store.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(oauth.store.parent.stat().st_mode) == 0o700
    state = read_state(oauth.store)
    assert state["access_token"] == "access-1" and state["refresh_token"] == "refresh-2"
    assert state["expires_at"] > time.time() + 3000
    # ... and the metrics endpoint tells when it expires.
    desk = Desk.open(config)
    try:
        [expiry] = [f for f in DeskCollector(desk).collect()
                    if f.name == "maildesk_token_expiry_timestamp_seconds"]
        assert [(s.labels, s.value) for s in expiry.samples] == [
            ({"station": "BHL", "service": "smtp"}, state["expires_at"])]
    finally:
        desk.close()


def test_an_expiring_token_is_renewed_with_the_rotated_refresh_token(tmp_path, endpoint):
    client = OAuthClient(endpoint.url, CLIENT_ID, CLIENT_SECRET, "refresh-1", "",
                         tmp_path / "tokens" / "bhl.json")
    assert access_token(client) == "access-1"
    assert access_token(client) == "access-1"  # still good
    later = time.time() + 3600 - 60  # inside the last five minutes
    assert access_token(client, now=later) == "access-2"
    assert [r["refresh_token"] for r in endpoint.requests] == ["refresh-1", "refresh-2"]


def test_imap_logs_in_with_a_renewed_token(tmp_path, endpoint):
    client = OAuthClient(endpoint.url, CLIENT_ID, CLIENT_SECRET, "refresh-1", "",
                         tmp_path / "tokens" / "bhl.json")
    with FakeOauthImap("access-1") as fake:
        base = fake.server("")
        mailbox = Mailbox(Server(base.host, base.port, base.security, base.user, "",
                                 base.timeout, "xoauth2", oauth=client))
        mailbox.connect()
        try:
            assert mailbox.select_inbox() == 42  # logged in: the fake accepts only access-1
        finally:
            mailbox.close()
    assert fake.responses == [f"user={USER}\x01auth=Bearer access-1\x01\x01".encode()]


def test_a_failed_renewal_alerts_the_administrators_and_recovery_too(
        tmp_path, dovecot, mailbox_user, endpoint):
    endpoint.failing = True
    with SmtpRecorder() as smtp:
        config, bhl = desk_config(tmp_path, dovecot, mailbox_user, smtp, endpoint, "imap")
        dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
        [result] = asyncio.run(poll_once(config)).passes
        assert "OAuth2 token renewal" in (result.error or "")
        assert "invalid_grant" in result.error
        _, health, sent = asyncio.run(escalate_once(config))
        assert [key.split(":")[1] for key in health.alerts] == ["signin_imap"]
        assert sent.sent == 1
        [alert] = smtp.messages
        assert alert.rcpt_tos == ["itcell@maildesk.test"]
        mail = parse(alert.data)
        assert "Sign-in of BHL Police Station can no longer be renewed (IMAP)" in mail["Subject"]
        assert "invalid_grant" in mail.get_content()
        # Told once: another sweep while it still fails sends nothing more.
        assert asyncio.run(escalate_once(config))[1].alerts == []
        assert len(smtp.messages) == 1

        # A new refresh token is put in place; the next renewal works (the fake IMAP
        # accepts the token), and the administrators hear that it is over.
        endpoint.failing = False
        client = config.station("BHL").imap.oauth
        assert access_token(client) == "access-1"
        assert "failed_since" not in read_state(client.store)
        _, health, sent = asyncio.run(escalate_once(config))
        assert [key.rsplit(":", 1)[1] for key in health.alerts] == ["recovered"]
        assert "working again" in parse(smtp.messages[-1].data)["Subject"]


def test_a_station_that_cannot_send_alerts_through_another(tmp_path, dovecot, mailbox_user,
                                                          endpoint):
    endpoint.failing = True
    other = dovecot.add_user(f"lkt{time.monotonic_ns()}", "lkt-password")
    with SmtpRecorder() as smtp:
        bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password)
        lkt = StationAccount("LKT", other.name, other.password)
        path, env = write_config(tmp_path, (dovecot.host, dovecot.port),
                                 (smtp.host, smtp.port), [bhl, lkt])
        data = yaml.safe_load(path.read_text())
        data["stations"][0]["smtp"] = oauth_keys(endpoint)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        config = load_config(path, env={**env, "BHL_CLIENT_SECRET": CLIENT_SECRET,
                                        "BHL_REFRESH": "refresh-1"})
        dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
        assert asyncio.run(poll_once(config)).sent.retrying == 1  # BHL's ack cannot go
        _, health, sent = asyncio.run(escalate_once(config))
        assert [key.split(":")[:2] for key in health.alerts] == [["BHL", "signin_smtp"]]
        [alert] = smtp.messages
        assert alert.mail_from == lkt.address  # sent by Lake Town's mailbox
        assert "Sign-in of BHL Police Station" in parse(alert.data)["Subject"]


def test_renewal_settings_are_checked(tmp_path, endpoint):
    bhl = StationAccount("BHL", "u", "p")
    path, env = write_config(tmp_path, ("127.0.0.1", 143), ("127.0.0.1", 25), [bhl])
    data = yaml.safe_load(path.read_text())
    data["stations"][0]["smtp"] = {**oauth_keys(endpoint), "token_url": "http://example.org/t"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**env, "BHL_CLIENT_SECRET": CLIENT_SECRET, "BHL_REFRESH": "refresh-1"}
    with pytest.raises(ConfigError, match="token_url: expected the provider's https://"):
        load_config(path, env=env)
    data["stations"][0]["smtp"] = {"user": USER, "client_id": CLIENT_ID}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match="client_id: is used only with refresh_token_env"):
        load_config(path, env=env)
    with pytest.raises(TokenRenewalError):
        endpoint.failing = True
        access_token(OAuthClient(endpoint.url, CLIENT_ID, CLIENT_SECRET, "x", "",
                                 tmp_path / "t.json"))


def test_a_newly_configured_refresh_token_replaces_the_stored_one(tmp_path, endpoint):
    store = tmp_path / "tokens" / "bhl.json"
    first = OAuthClient(endpoint.url, CLIENT_ID, CLIENT_SECRET, "refresh-1", "", store)
    assert access_token(first) == "access-1"  # stores rotated refresh-2
    endpoint.refresh_token = "issued-by-admin"  # the provider revoked refresh-2
    with pytest.raises(TokenRenewalError):
        access_token(first, now=time.time() + 3600)
    fixed = OAuthClient(endpoint.url, CLIENT_ID, CLIENT_SECRET, "issued-by-admin", "", store)
    assert access_token(fixed, now=time.time() + 3600) == "access-2"
    assert [r["refresh_token"] for r in endpoint.requests] == [
        "refresh-1", "refresh-2", "issued-by-admin"]
