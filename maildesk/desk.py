"""What every stage needs at hand: the configuration, the store, the templates, the clock."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from maildesk.clock import Clock
from maildesk.config.settings import Config, Station
from maildesk.errors import ConfigError
from maildesk.mail.templates import Templates, default_templates_dir
from maildesk.store.db import Store


@dataclass
class Desk:
    config: Config
    store: Store
    templates: Templates
    clock: Clock

    lock: TextIO | None = None

    @classmethod
    def open(cls, config: Config, clock: Clock | None = None, intake: bool = False) -> Desk:
        """Open the store. `intake=True` (run, poll) also takes the data directory's intake
        lock: a daemon and a `poll --once` working at once could send the same mail twice."""
        clock = clock or Clock()
        store = Store(config.data_dir, clock)
        desk = cls(config, store, Templates(default_templates_dir()), clock)
        if intake:
            # Private like everything in the data directory (open() would make it 0644).
            fd = os.open(store.data_dir / "intake.lock", os.O_WRONLY | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)  # a lock file left by an older version
            desk.lock = os.fdopen(fd, "w")
            try:
                fcntl.flock(desk.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                desk.close()
                raise ConfigError(f"another maildesk (run or poll) is using {config.data_dir}; "
                                  "stop it first") from None
        return desk

    def close(self) -> None:
        self.store.close()
        if self.lock is not None:
            self.lock.close()  # closing the file releases the lock
            self.lock = None

    def local_time(self, moment: datetime) -> str:
        """A moment as residents and officers read it: '23 Nov 2026, 14:30 IST'."""
        local = moment.astimezone(self.config.timezone)
        return local.strftime("%d %b %Y, %H:%M ") + (local.tzname() or "")

    def station(self, code: str) -> Station:
        return self.config.station(code)
