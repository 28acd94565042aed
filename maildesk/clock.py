"""Time comes from here so that tests can run on simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The real clock: timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 23, 4, 30, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def to_iso(moment: datetime) -> str:
    """Stored form of a moment: UTC ISO-8601, sortable as text."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def from_iso_or_none(text: str | None) -> datetime | None:
    """A stored moment that may be missing (a column still NULL)."""
    return datetime.fromisoformat(text) if text else None
