"""What is down right now, so that each outage is logged once when it begins and once when it
ends (both at WARNING: `journalctl -p warning` shows every outage and its end), however many
passes, watchers and drains run into it meanwhile. Thread-safe: IDLE watchers report too."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

log = logging.getLogger(__name__)

PROBE_SECONDS = 2.0  # while something is down, a cheap connect this often notices its return


class Outages:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[str, float] = {}
        self._ended: dict[str, float] = {}

    def begin(self, key: str, text: str, attempt_started: float | None = None) -> bool:
        """`key` is down (`text` says what and why); True if that is news. An attempt that
        started before the outage last ended is old news and begins nothing."""
        with self._lock:
            if key in self._since:
                log.debug("still down: %s", text)
                return False
            if attempt_started is not None and attempt_started < self._ended.get(key, 0.0):
                return False
            self._since[key] = time.monotonic()
        log.warning("outage: %s", text)
        return True

    def end(self, key: str, text: str) -> float | None:
        """`key` works again; the seconds it was down, if it was."""
        with self._lock:
            since = self._since.pop(key, None)
            if since is None:
                return None
            now = time.monotonic()
            self._ended[key] = now
        log.warning("outage over after %.1f s: %s", now - since, text)
        return now - since

    def is_down(self, key: str) -> bool:
        with self._lock:
            return key in self._since

    def down(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._since if k.startswith(prefix))


async def reachable(host: str, port: int, timeout: float = PROBE_SECONDS) -> bool:
    """The cheap probe: does the server accept a TCP connection at all?"""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True
