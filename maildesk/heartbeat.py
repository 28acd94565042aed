"""Are the intake threads alive? Each pass says so as it goes; the watchdog asks.

A pass registers itself while it works and beats after every committed batch. The daemon
also drops a probe into the intake pool now and then: a pool whose every thread is stuck
never runs it. The systemd watchdog is pinged only while both look alive, so a daemon
whose intake has hung is restarted instead of sitting there quietly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Heartbeat:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._working: dict[str, float] = {}  # name -> last beat
        self._probe_sent: float | None = None
        self._probe_ran = clock()

    @contextmanager
    def working(self, name: str) -> Iterator[Callable[[], None]]:
        """Around one pass; yields the beat to call as it makes progress."""
        self.beat(name)
        try:
            yield lambda: self.beat(name)
        finally:
            with self._lock:
                self._working.pop(name, None)

    def beat(self, name: str) -> None:
        with self._lock:
            self._working[name] = self.clock()

    def probe_sent(self) -> None:
        with self._lock:
            if self._probe_sent is None:
                self._probe_sent = self.clock()

    def probe(self) -> None:
        """Run by an intake thread: the pool takes work."""
        with self._lock:
            self._probe_sent, self._probe_ran = None, self.clock()

    def problems(self, limit: float) -> list[str]:
        """Why the intake threads do not look alive (empty when they do): a pass without
        progress for longer than `limit` seconds, or a probe waiting that long while no
        pass made progress either."""
        now = self.clock()
        with self._lock:
            stuck = [f"{name} without progress for {now - last:.0f}s"
                     for name, last in sorted(self._working.items()) if now - last > limit]
            moving = any(now - last <= limit for last in self._working.values())
            waiting = self._probe_sent is not None and now - self._probe_sent > limit
        if waiting and not moving:
            stuck.append(f"the intake pool ran nothing for {now - self._probe_ran:.0f}s")
        return stuck
