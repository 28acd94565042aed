"""OAuth2 sign-in (XOAUTH2 for Gmail and Microsoft 365): maildesk renews its access tokens
itself from a refresh token, through authlib, at the provider's token endpoint.

Tokens live in `<data_dir>/tokens/<name>.json`, mode 0600, one file per mailbox login: the
current access token and when it expires, the refresh token (providers may hand out a new
one with each renewal; the newest is kept), and, after a failed renewal, since when and
why, which the mailbox health sweep turns into an alert to the administrators.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maildesk.errors import PermanentError

log = logging.getLogger(__name__)

RENEW_BEFORE = 300  # seconds before expiry: a token must not run out during a long pass
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class OAuthClient:
    """How to renew one login's access token."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)  # the one configured; a newer one may be stored
    scope: str
    store: Path  # the token file
    timeout: float = 30.0


class TokenRenewalError(PermanentError):
    """The token endpoint refused or could not be reached: no access token to log in with."""


def token_file(data_dir: Path, token_url: str, user: str) -> Path:
    name = hashlib.sha256(f"{token_url}\0{user}".encode()).hexdigest()[:16]
    return Path(data_dir) / "tokens" / f"{user.replace('/', '_')}-{name}.json"


def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as file:
        json.dump(state, file)
    os.replace(tmp, path)


def _lock(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def access_token(client: OAuthClient, now: float | None = None) -> str:
    """A current access token: the stored one while it has time left, else a renewed one.
    Raises TokenRenewalError (and records the failure) when renewal fails."""
    now = time.time() if now is None else now
    with _lock(client.store):  # IMAP and SMTP threads of one login renew once, not twice
        state = read_state(client.store)
        if state.get("access_token") and state.get("expires_at", 0) - RENEW_BEFORE > now:
            return str(state["access_token"])
        # A rotated refresh token stored here wins, unless the administrator has configured
        # a new one since (after a failed renewal): then that one is used.
        configured = hashlib.sha256(client.refresh_token.encode()).hexdigest()[:16]
        refresh = (state.get("refresh_token") if state.get("configured") == configured
                   else None) or client.refresh_token
        # Imported here: authlib brings requests and its kin (16 MB, 300 modules), which a
        # desk with no OAuth2 mailbox never needs.
        from authlib.integrations.requests_client import OAuth2Session

        session = OAuth2Session(client.client_id, client.client_secret, scope=client.scope,
                                token_endpoint_auth_method="client_secret_post")
        try:
            token = session.refresh_token(client.token_url, refresh_token=refresh,
                                          timeout=client.timeout)
        except Exception as exc:  # noqa: BLE001 - any failure to renew must reach the admins
            error = f"OAuth2 token renewal at {client.token_url} failed: {exc}"
            state.setdefault("failed_since", now)
            state["last_error"] = error
            _write_state(client.store, state)
            log.warning("%s", error)
            raise TokenRenewalError(error) from exc
        finally:
            session.close()
        state = {
            "access_token": token["access_token"],
            "expires_at": float(token.get("expires_at") or now + float(
                token.get("expires_in") or 3600)),
            "refresh_token": token.get("refresh_token") or refresh,
            "renewed_at": now,
            "configured": configured,
        }
        _write_state(client.store, state)
        log.info("OAuth2 access token renewed at %s", client.token_url)
        return str(state["access_token"])


def login_secret(server: Any) -> str:
    """What a Server logs in with: its renewed access token, or its password or token."""
    client = getattr(server, "oauth", None)
    return access_token(client) if client is not None else str(server.password)
