"""A sliding window per client address, against guessing on the resident's status page."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class RateLimit:
    def __init__(self, allowed: int, window: timedelta) -> None:
        self.allowed, self.window = allowed, window
        self.seen: dict[str, deque[datetime]] = {}

    def allow(self, client: str, now: datetime) -> bool:
        """Count one attempt by `client`; False when it is over the limit."""
        times = self.seen.setdefault(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.allowed:
            return False
        times.append(now)
        if len(self.seen) > 100_000:  # bounded memory: forget those with nothing recent
            for key in [k for k, v in self.seen.items() if not v]:
                del self.seen[key]
        return True
