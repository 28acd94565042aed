"""Signing in: argon2 password hashes, lock-out after repeated failures, CSRF tokens.

Lock-outs are kept in the server's memory: a restart clears them, which an attacker cannot
cause from outside (the server listens on loopback behind the administrator's proxy)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from maildesk.config.settings import WebAccount, WebSettings

_hasher = PasswordHasher()
# Checked against when the user is unknown, so that a wrong name costs as long as a wrong
# password and the answer time does not tell which accounts exist.
_DUMMY = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass
class _Failures:
    count: int = 0
    locked_until: datetime | None = None


@dataclass
class Accounts:
    settings: WebSettings
    failures: dict[str, _Failures] = field(default_factory=dict)

    def locked(self, user: str, now: datetime) -> bool:
        state = self.failures.get(user)
        return bool(state and state.locked_until and now < state.locked_until)

    def sign_in(self, user: str, password: str, now: datetime) -> WebAccount | None:
        """The account if the password is right and the account is not locked out."""
        account = next((a for a in self.settings.accounts if a.user == user), None)
        if self.locked(user, now):
            return None
        try:
            ok = _hasher.verify(account.password_hash if account else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if ok and account is not None:
            self.failures.pop(user, None)
            return account
        state = self.failures.setdefault(user, _Failures())
        if state.locked_until and now >= state.locked_until:
            state.count, state.locked_until = 0, None  # the lock-out ran out: count afresh
        state.count += 1
        if state.count >= self.settings.lockout_after:
            state.locked_until = now + self.settings.lockout_for
        return None


def csrf_token(session: dict) -> str:
    """The session's token for its forms (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def csrf_ok(session: dict, sent: object) -> bool:
    expected = session.get("csrf")
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(expected, sent)
