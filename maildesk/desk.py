"""What every stage needs at hand: the configuration, the store, the templates, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from maildesk.clock import Clock
from maildesk.compose import Templates, default_templates_dir
from maildesk.config import Config, Station
from maildesk.store import Store


@dataclass
class Desk:
    config: Config
    store: Store
    templates: Templates
    clock: Clock

    @classmethod
    def open(cls, config: Config, clock: Clock | None = None) -> Desk:
        clock = clock or Clock()
        return cls(config, Store(config.data_dir, clock), Templates(default_templates_dir()),
                   clock)

    def close(self) -> None:
        self.store.close()

    def local_time(self, moment: datetime) -> str:
        """A moment as residents and officers read it: '23 Nov 2026, 14:30 IST'."""
        local = moment.astimezone(self.config.timezone)
        return local.strftime("%d %b %Y, %H:%M ") + (local.tzname() or "")

    def station(self, code: str) -> Station:
        return self.config.station(code)
