"""The store: migrations recorded and applied once, private files, codes counting up."""

from __future__ import annotations

import stat

from maildesk.clock import FakeClock
from maildesk.store.db import Store
from maildesk.store.migrations import MIGRATIONS


def test_migrations_are_recorded_and_run_once(tmp_path):
    store = Store(tmp_path)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()
    again = Store(tmp_path)  # reopening applies nothing twice
    rows = again.query("SELECT version FROM schema_migrations")
    assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))


def test_an_old_database_is_upgraded(tmp_path):
    import sqlite3

    import sqlite_utils

    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "maildesk.db"))
    db["schema_migrations"].create({"version": int, "name": str, "applied_at": str},
                                   pk="version")
    with db.atomic():
        MIGRATIONS[0](db)
        db["schema_migrations"].insert({"version": 1, "name": "create_tables",
                                        "applied_at": "2026-11-01T00:00:00+00:00"})
        db.execute("INSERT INTO complaints (code, station, status, urgency, created_at, "
                   "updated_at) VALUES ('BHL-2611-0001', 'BHL', 'received', 'urgent', "
                   "'2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00')")
    db.close()
    store = Store(tmp_path)
    assert store.schema_version() == len(MIGRATIONS)
    [complaint] = store.complaints()
    assert complaint["clock_start"] == complaint["created_at"]


def test_files_are_private(tmp_path):
    store = Store(tmp_path / "data")
    sha = store.save_raw(b"Subject: hello\r\n\r\nbody")
    path = store.blob_path(sha)
    assert path.read_bytes().endswith(b"body")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "maildesk.db").stat().st_mode) == 0o600


def test_files_written_in_a_batch_are_synced_together(tmp_path):
    store = Store(tmp_path)
    with store.files_synced_at_end():
        shas = [store.save_raw(f"mail {i}".encode()) for i in range(5)]
    assert all(store.blob_path(s).exists() for s in shas)


def test_codes_count_up_per_station_and_month(tmp_path):
    clock = FakeClock()
    store = Store(tmp_path, clock)
    now = clock.now()
    assert [store.next_code("BHL", now) for _ in range(2)] == ["BHL-2611-0001", "BHL-2611-0002"]
    assert store.next_code("LKT", now) == "LKT-2611-0001"
