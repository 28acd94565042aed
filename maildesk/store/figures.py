"""The SQL behind the daily digest and the monthly report (reports.digest, reports.monthly).

Plain functions over a Store. Moments are passed and returned as stored: UTC ISO-8601 text,
which sorts like time. Every query reads one station list through an index: complaints by
station and creation (`complaints_station_created`), the still-unclosed ones by station
(`complaints_unclosed`, partial), closures by station (`complaints_station_closed`), events
by action and time (`events_action_at`); without a station list, complaints by creation
(`complaints_created`).
"""

from __future__ import annotations

from collections.abc import Sequence

from maildesk.store.db import Row, Store

_OPEN_COLUMNS = ("code, station, urgency, created_at, first_action_at, clock_start, "
                 "paused_seconds, paused_since, subject")


def _marks(values: Sequence[str]) -> str:
    return ", ".join("?" for _ in values)


def received_between(store: Store, stations: Sequence[str], start: str, end: str) -> list[Row]:
    """Complaints created in [start, end) at these stations, with their first steps."""
    if not stations:
        return []
    return store.query(
        f"SELECT station, urgency, created_at, clock_start, acknowledged_at, first_action_at "
        f"FROM complaints INDEXED BY complaints_station_created "
        f"WHERE station IN ({_marks(stations)}) AND created_at >= ? AND created_at < ?",
        (*stations, start, end),
    )


def closed_between(store: Store, stations: Sequence[str], start: str,
                   end: str) -> dict[str, int]:
    """How many complaints each station closed in [start, end) (and did not reopen)."""
    if not stations:
        return {}
    rows = store.query(
        f"SELECT station, count(*) AS n FROM complaints INDEXED BY complaints_station_closed "
        f"WHERE station IN ({_marks(stations)}) AND closed_at >= ? AND closed_at < ? "
        f"GROUP BY station",
        (*stations, start, end),
    )
    return {r["station"]: r["n"] for r in rows}


def open_at(store: Store, stations: Sequence[str], moment: str) -> list[Row]:
    """Complaints open at `moment`: created before it and not closed by then (unclosed
    still, or closed at or after it)."""
    if not stations:
        return []
    marks = _marks(stations)
    return store.query(
        f"SELECT {_OPEN_COLUMNS} FROM complaints INDEXED BY complaints_unclosed "
        f"WHERE closed_at IS NULL AND station IN ({marks}) AND created_at < ? "
        f"UNION ALL "
        f"SELECT {_OPEN_COLUMNS} FROM complaints INDEXED BY complaints_station_closed "
        f"WHERE station IN ({marks}) AND closed_at >= ? AND created_at < ?",
        (*stations, moment, *stations, moment, moment),
    )


def _seconds(later: str, earlier: str) -> str:
    """SQL for the seconds from one stored moment to another (NULL if either is)."""
    return f"CAST(round((julianday({later}) - julianday({earlier})) * 86400) AS INTEGER)"


def month_complaints(store: Store, start: str, end: str,
                     stations: Sequence[str] | None) -> list[Row]:
    """Complaints created in [start, end), each with the seconds from creation to its
    acknowledgement and to its closure, from the start of its clock (creation, or the last
    transfer or reopening) to the first officer action on it (NULL where there is none), and
    the seconds its service-level clock ran until the closure (it stops while the complaint
    waits on the resident)."""
    clock = "coalesce(clock_start, created_at)"
    waiting = (f"CASE WHEN paused_since IS NOT NULL AND paused_since < closed_at "
               f"THEN {_seconds('closed_at', 'paused_since')} ELSE 0 END")
    columns = (
        f"station, urgency, "
        f"{_seconds('acknowledged_at', 'created_at')} AS to_acknowledge, "
        f"{_seconds('first_action_at', clock)} AS to_first_action, "
        f"{_seconds('closed_at', 'created_at')} AS to_closure, "
        f"{_seconds('closed_at', clock)} - paused_seconds - {waiting} AS clock_at_closure"
    )
    if stations is None:
        return store.query(
            f"SELECT {columns} FROM complaints INDEXED BY complaints_created "
            f"WHERE created_at >= ? AND created_at < ?", (start, end),
        )
    if not stations:
        return []
    return store.query(
        f"SELECT {columns} FROM complaints INDEXED BY complaints_station_created "
        f"WHERE station IN ({_marks(stations)}) AND created_at >= ? AND created_at < ?",
        (*stations, start, end),
    )


def reopened_between(store: Store, start: str, end: str) -> dict[str, int]:
    """Per (current) station: complaints a resident reopened in [start, end)."""
    rows = store.query(
        "SELECT c.station AS station, count(DISTINCT e.complaint_id) AS n "
        "FROM events e INDEXED BY events_action_at JOIN complaints c ON c.id = e.complaint_id "
        "WHERE e.action = 'reopened' AND e.at >= ? AND e.at < ? GROUP BY c.station",
        (start, end),
    )
    return {r["station"]: r["n"] for r in rows}


def transferred_between(store: Store, start: str, end: str) -> dict[str, int]:
    """Per station: complaints it transferred to another station in [start, end)."""
    rows = store.query(
        "SELECT json_extract(detail, '$.from') AS station, "
        "count(DISTINCT complaint_id) AS n FROM events INDEXED BY events_action_at "
        "WHERE action = 'transferred' AND at >= ? AND at < ? GROUP BY 1",
        (start, end),
    )
    return {r["station"]: r["n"] for r in rows if r["station"]}


def digest_sent(store: Store, zone: str, day: str) -> bool:
    return store.one("SELECT 1 AS x FROM digests WHERE zone = ? AND day = ?",
                     (zone, day)) is not None


def claim_digest(store: Store, zone: str, day: str, sent_at: str) -> bool:
    """Record the digest of (zone, day); False if it was recorded already. Call inside the
    transaction that queues it, then `set_digest_outbox`."""
    with store.lock:
        cursor = store.db.execute(
            "INSERT OR IGNORE INTO digests (zone, day, sent_at) VALUES (?, ?, ?)",
            (zone, day, sent_at),
        )
    return cursor.rowcount == 1


def set_digest_outbox(store: Store, zone: str, day: str, outbox_id: int) -> None:
    with store.lock:
        store.db.execute("UPDATE digests SET outbox_id = ? WHERE zone = ? AND day = ?",
                         (outbox_id, zone, day))
