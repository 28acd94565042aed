"""What the web pages read (maildesk.web), through a read-only connection of their own.

The web server never writes: its connection is opened read-only (`mode=ro`), so a bug there
cannot change a complaint, and under WAL its reads never block intake's writes (nor wait for
them). It is a Store in every reading method, so the digest and the monthly report run on it
unchanged."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from maildesk.clock import Clock
from maildesk.store.db import Row, Store

PUBLIC_ACTIONS = ("progress", "incomplete", "closed")  # what officers wrote to the resident


class ReadOnlyStore(Store):
    def __init__(self, data_dir: Path, clock: Clock | None = None) -> None:
        # Created (and migrated) by a normal Store first, so the file and its schema exist.
        Store(data_dir, clock).close()
        self.data_dir = Path(data_dir)
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self._unsynced = {}
        uri = (self.data_dir / "maildesk.db").resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA query_only=ON")
        self.db = sqlite_utils.Database(conn)

    def close(self) -> None:
        with self.lock:
            self.db.close()


def attachment(store: Store, attachment_id: int) -> Row | None:
    """One attachment with the station of the complaint it belongs to (None if neither)."""
    return store.one(
        "SELECT a.*, c.station AS station FROM attachments a "
        "JOIN messages m ON m.id = a.message_row JOIN complaints c ON c.id = m.complaint_id "
        "WHERE a.id = ?", (attachment_id,))


def complaint_attachments(store: Store, complaint_id: int) -> list[Row]:
    return store.query(
        "SELECT a.* FROM attachments a JOIN messages m ON m.id = a.message_row "
        "WHERE m.complaint_id = ? ORDER BY a.id", (complaint_id,))


def public_notes(store: Store, complaint_id: int) -> list[Row]:
    """The notes officers sent the resident (progress, a request for details, the closure)."""
    marks = ", ".join("?" for _ in PUBLIC_ACTIONS)
    return store.query(
        f"SELECT at, action, json_extract(detail, '$.note') AS note, "
        f"json_extract(detail, '$.needed') AS needed FROM events "
        f"WHERE complaint_id = ? AND action IN ({marks}) ORDER BY id",
        (complaint_id, *PUBLIC_ACTIONS))
