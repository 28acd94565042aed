"""OAuth2 sign-in against a real IMAP server: Dovecot's oauth2 passdb asks the loopback token
endpoint (RFC 7662 introspection) whether the access token maildesk renewed is live, as Gmail
and Microsoft 365 check theirs. No real provider is called."""

from __future__ import annotations

import asyncio
import os

import pytest
import yaml
from deskenv import StationAccount, fixture, write_config
from servers import Dovecot, SmtpRecorder
from test_oauth_refresh import CLIENT_SECRET, TokenEndpoint, oauth_keys

from maildesk.config.settings import Server, load_config
from maildesk.daemon import poll_once
from maildesk.errors import PermanentError
from maildesk.intake.imap import Mailbox
from maildesk.store.db import Store


@pytest.fixture
def oauth_dovecot(dovecot, tmp_path):
    """The token endpoint and a Dovecot that believes it (the session's Dovecot is
    only a guard: it fails in CI when Dovecot is missing)."""
    with TokenEndpoint() as endpoint:
        workdir = None if os.geteuid() == 0 else tmp_path / "dovecot-oauth2"
        server = Dovecot.start(workdir, oauth2_introspection=endpoint.introspection_url)
        try:
            yield endpoint, server
        finally:
            server.stop()


def test_the_daemon_reads_a_mailbox_with_a_token_it_renewed_itself(tmp_path, oauth_dovecot):
    endpoint, server = oauth_dovecot
    user = server.add_user("bhl-oauth", "no-password-is-used")
    endpoint.owner = user.name
    with SmtpRecorder() as smtp:
        bhl = StationAccount("BHL", user.name, user.password, ("si.roy@maildesk.test",))
        path, env = write_config(tmp_path, (server.host, server.port), (smtp.host, smtp.port),
                                 [bhl])
        data = yaml.safe_load(path.read_text())
        data["stations"][0]["imap"] = {**oauth_keys(endpoint), "user": user.name}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        config = load_config(path, env={**env, "BHL_CLIENT_SECRET": CLIENT_SECRET,
                                        "BHL_REFRESH": "refresh-1"})
        server.append(bhl.user, fixture("en_urgent_fire.eml"))
        [result] = asyncio.run(poll_once(config)).passes
        assert result.error is None and result.fetched == 1
    # One renewal; Dovecot asked the endpoint about exactly the token maildesk got.
    assert [r["grant_type"] for r in endpoint.requests] == ["refresh_token"]
    assert endpoint.introspected == ["access-1"]
    assert len(Store(config.data_dir).complaints()) == 1
    assert server.folder_uids(bhl.user) == []  # taken in and moved out of the INBOX
    assert f"user=<{user.name}>, method=XOAUTH2" in server.log_tail(200)


def test_dovecot_refuses_a_token_its_provider_does_not_know(oauth_dovecot):
    endpoint, server = oauth_dovecot
    user = server.add_user("bhl-stale", "no-password-is-used")
    endpoint.owner = user.name
    mailbox = Mailbox(Server(server.host, server.port, "plain", user.name, "access-99", 10,
                             "xoauth2"))
    with pytest.raises(PermanentError, match="IMAP login refused") as refused:
        mailbox.connect()
    mailbox.close()
    assert endpoint.introspected == ["access-99"]
    assert "access-99" not in str(refused.value)  # the token never appears in an error
