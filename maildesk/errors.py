"""The few exception types maildesk raises, each saying what to do about it."""

import errno
import sqlite3


class ConfigError(Exception):
    """The configuration is wrong: stop at start and tell the administrator how to fix it."""


class TemporaryError(Exception):
    """Something outside is not available right now (server down, 4xx): retry later."""


class PermanentError(Exception):
    """Something outside refused for good (5xx, bad login): report it, do not retry blindly."""


def disk_full(exc: BaseException) -> bool:
    """The data directory's disk (or the service user's quota) is full: a raw mail file or
    SQLite refused to grow. Nothing is wrong with the mail; it waits in the INBOX."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False
