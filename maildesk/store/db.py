"""The SQLite store (through sqlite-utils) and the raw mail files beside it.

The only module that touches SQLite. One connection, guarded by a fair lock (first come,
first served), so that intake threads of many stations and the outbox take turns: an intake
thread that commits and starts its next mail never jumps ahead of a waiting `mark_sent`.
Every change that belongs together happens in one short `transaction()` (one per incoming
mail), and each mail's stages in a `savepoint()`, so one bad mail rolls back only itself.

A transaction takes SQLite's write lock when it begins (BEGIN IMMEDIATE). When another
program holds it (a backup tool, an administrator's sqlite3 shell), the store says so once
at WARNING, waits, and says when the lock came free.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from maildesk.clock import Clock, to_iso
from maildesk.errors import TemporaryError
from maildesk.store.migrations import MIGRATIONS

# Told (files done, files in all) as a long copy goes; the CLI draws it on a terminal.
Progress = Callable[[int, int], None]

_SENT_MAIL_IDS = 50  # Message-IDs of one reply looked up (References can be long)
_SENT_MAIL_LIMIT = 5  # own mails one reply is compared with

Row = dict[str, Any]
log = logging.getLogger(__name__)

BUSY_SECONDS = 0.25  # SQLite's own wait for another program's lock, between our log checks
LOCK_PATIENCE = 600.0  # then the transaction fails (temporarily: the mail stays in the INBOX)


class StoreBusy(TemporaryError):
    """Another program held the database's write lock for longer than LOCK_PATIENCE."""


class FairLock:
    """A re-entrant lock that goes to waiting threads in the order they came. Python's RLock
    lets the thread that releases it take it again at once, so a busy intake thread could
    keep the outbox waiting for a whole backlog."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[int] = deque()

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            self._queue.append(me)
            while self._owner is not None or self._queue[0] != me:
                self._cond.wait()
            self._queue.popleft()
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _private_dir(path: Path) -> Path:
    # mkdir's mode holds for the last directory only: "raw/" made on the way to "raw/ab/"
    # would be left open to everyone's listing, so each directory made here is closed.
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for made in (path, *missing):
        os.chmod(made, 0o700)
    return path


def _write_private(path: Path, data: bytes, sync: bool) -> bool:
    """Write atomically (temp file, rename), readable by the service user only.
    Returns False when the file was already there."""
    if path.exists():
        return False  # named by content: the same bytes are already there
    if not path.parent.is_dir():
        _private_dir(path.parent)
    tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as file:
        file.write(data)
        file.flush()
        if sync:
            os.fsync(file.fileno())
    os.replace(tmp, path)
    return True


def _sync_filesystem(directory: Path, paths: list[Path]) -> None:
    """Make files durable: one syncfs() of the data directory's filesystem (Linux) costs
    less than an fsync per file; elsewhere, fsync each file."""
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "syncfs"):
        fd = os.open(directory, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Store:
    def __init__(self, data_dir: Path, clock: Clock | None = None) -> None:
        self.data_dir = _private_dir(Path(data_dir))
        self.clock = clock or Clock()
        self.lock = FairLock()
        self._unsynced: dict[int, list[Path]] = {}  # per thread, inside files_synced_at_end
        self._writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="raw-writer")
        path = self.data_dir / "maildesk.db"
        conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_SECONDS)
        os.chmod(path, 0o600)
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        # WAL + NORMAL: a committed transaction survives a crash of the process; the raw
        # mail files are fsynced on their own before the commit that refers to them.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        self._writers.shutdown()
        with self.lock:
            self.db.close()

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self.lock:
            if "schema_migrations" not in self.db.table_names():
                self.db["schema_migrations"].create(
                    {"version": int, "name": str, "applied_at": str}, pk="version"
                )
            done = {r["version"] for r in self.db["schema_migrations"].rows}
            for version, migration in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                with self.db.atomic():
                    migration(self.db)
                    self.db["schema_migrations"].insert(
                        {"version": version, "name": migration.__name__,
                         "applied_at": self.now()}
                    )

    def schema_version(self) -> int:
        return max((r["version"] for r in self.db["schema_migrations"].rows), default=0)

    # -- time and transactions ------------------------------------------------------------

    def now(self) -> str:
        return to_iso(self.clock.now())

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all. Keep it short: every other
        writer (the outbox too) waits for it."""
        with self.lock:
            conn = self.db.conn
            if conn.in_transaction:  # inside another: a savepoint of it
                with self.db.atomic():
                    yield self
                return
            self._begin()
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

    def _begin(self) -> None:
        """BEGIN IMMEDIATE: the write lock now, or a clear word that someone else holds it."""
        started, told = time.monotonic(), False
        while True:
            try:
                self.db.conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                waited = time.monotonic() - started
                if waited > LOCK_PATIENCE:
                    raise StoreBusy(f"the database was locked for {waited:.0f} s") from exc
                if not told:  # each try already waited BUSY_SECONDS inside SQLite
                    log.warning("store: the database %s is locked by another program; "
                                "waiting for it", self.data_dir / "maildesk.db")
                    told = True
        if told:
            log.warning("store: the database lock is free again after %.1f s",
                        time.monotonic() - started)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write: part of the transaction in hand, or a transaction of its own."""
        with self.lock:
            if self.db.conn.in_transaction:
                yield
            else:
                with self.transaction():
                    yield

    @contextmanager
    def savepoint(self) -> Iterator[Store]:
        """Inside a transaction: a part that can fail alone."""
        with self.lock, self.db.atomic():
            yield self

    def query(self, sql: str, params: tuple | dict = ()) -> list[Row]:
        # Straight to the connection: sqlite-utils' query() wraps every read in a savepoint,
        # which costs more than the read itself on the path of every incoming mail. A read
        # needs no write lock (and a read-only store, the web's, cannot take one).
        words = sql.split(None, 1)
        reading = bool(words) and words[0].upper() in ("SELECT", "WITH") and (
            "RETURNING" not in sql.upper())
        with self.lock if reading else self._writing():
            cursor = self.db.conn.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params: tuple | dict = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def _insert(self, table: str, row: Row) -> int:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._writing():
            cursor = self.db.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values())
            )
            return int(cursor.lastrowid)

    def _update(self, table: str, row_id: int, fields: Row) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.lock:
            self.db.execute(
                f"UPDATE {table} SET {assignments} WHERE id = ?", (*fields.values(), row_id)
            )

    # -- raw mail and attachment files ------------------------------------------------------

    def blob_path(self, sha256: str, kind: str = "raw") -> Path:
        return self.data_dir / kind / sha256[:2] / f"{sha256}.{'eml' if kind == 'raw' else 'bin'}"

    def save_raw(self, raw: bytes) -> str:
        """Store a mail's bytes before anything else looks at them; returns their SHA-256."""
        sha = hashlib.sha256(raw).hexdigest()
        self._save(self.blob_path(sha), raw)
        return sha

    def save_raws(self, raws: list[bytes]) -> list[str]:
        """`save_raw` for a batch: creating files is the slow part of storing a mail, and
        the kernel does it faster from a few threads at once."""
        pending = self._unsynced.get(threading.get_ident())

        def one(raw: bytes) -> str:
            sha = hashlib.sha256(raw).hexdigest()
            path = self.blob_path(sha)
            if _write_private(path, raw, sync=pending is None) and pending is not None:
                pending.append(path)
            return sha

        return list(self._writers.map(one, raws))

    def save_blob(self, data: bytes, sha256: str) -> None:
        self._save(self.blob_path(sha256, "attachments"), data)

    def _save(self, path: Path, data: bytes) -> None:
        pending = self._unsynced.get(threading.get_ident())
        if _write_private(path, data, sync=pending is None) and pending is not None:
            pending.append(path)

    @contextmanager
    def files_synced_at_end(self) -> Iterator[None]:
        """Files written inside are made durable together when the block ends — before
        the transaction that refers to them commits. One sync per batch, not per mail."""
        me = threading.get_ident()
        self._unsynced[me] = paths = []
        try:
            yield
        finally:
            del self._unsynced[me]
            if paths:
                _sync_filesystem(self.data_dir, paths)

    def read_raw(self, sha256: str) -> bytes:
        return self.blob_path(sha256).read_bytes()

    def read_blob(self, sha256: str, kind: str = "attachments") -> bytes | None:
        """A file's bytes, or None when retention has removed it."""
        try:
            return self.blob_path(sha256, kind).read_bytes()
        except FileNotFoundError:
            return None

    # -- retention ----------------------------------------------------------------------------

    def purge_closed(self, closed_before: datetime) -> dict[str, int]:
        """Remove the raw mails and attachments of complaints closed before `closed_before`.
        The records stay (marked `purged_at`); a file that a kept message shares (the same
        bytes, sent twice) stays too. The database is marked first: a crash in between
        leaves files nobody refers to, never a reference to a missing file unmarked."""
        rows = self.query(
            "SELECT m.id, m.sha256 FROM messages m JOIN complaints c ON c.id = m.complaint_id "
            "WHERE c.status = 'closed' AND c.closed_at < ? AND m.purged_at IS NULL",
            (to_iso(closed_before),))
        ids = [r["id"] for r in rows]
        files = {("raw", r["sha256"]) for r in rows}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            files |= {("attachments", r["sha256"]) for r in self.query(
                f"SELECT sha256 FROM attachments WHERE message_row IN ({marks})", tuple(chunk))}
            with self.transaction():
                self.db.execute(f"UPDATE messages SET purged_at = ? WHERE id IN ({marks})",
                                (self.now(), *chunk))
        removed = 0
        for kind, sha in sorted(files):
            if self._still_needed(kind, sha):
                continue
            try:
                self.blob_path(sha, kind).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return {"messages": len(ids), "files": removed}

    def _still_needed(self, kind: str, sha: str) -> bool:
        if kind == "raw":
            sql = "SELECT 1 AS x FROM messages WHERE sha256 = ? AND purged_at IS NULL LIMIT 1"
        else:
            sql = ("SELECT 1 AS x FROM attachments a JOIN messages m ON m.id = a.message_row "
                   "WHERE a.sha256 = ? AND m.purged_at IS NULL LIMIT 1")
        return self.one(sql, (sha,)) is not None

    # -- IMAP checkpoints and mailbox health ------------------------------------------------

    def checkpoint(self, station: str, folder: str) -> tuple[int, int] | None:
        row = self.one(
            "SELECT uidvalidity, last_uid FROM checkpoints WHERE station = ? AND folder = ?",
            (station, folder),
        )
        return (row["uidvalidity"], row["last_uid"]) if row else None

    def set_checkpoint(self, station: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        with self._writing():
            self.db.execute(
                "INSERT INTO checkpoints (station, folder, uidvalidity, last_uid) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (station, folder) DO UPDATE SET "
                "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
                (station, folder, uidvalidity, last_uid),
            )

    def record_poll(self, station: str, error: str | None, fetched: int = 0) -> None:
        """Remember how the last visit to a mailbox went (for `status` and health alerts)."""
        now = self.now()
        with self.transaction():
            old = self.one("SELECT * FROM mailbox_health WHERE station = ?", (station,))
            failures = 0 if error is None else (old["failures"] if old else 0) + 1
            row = {
                "station": station,
                "last_poll_at": now,
                "last_ok_at": now if error is None else (old or {}).get("last_ok_at"),
                "last_mail_at": now if fetched else (old or {}).get("last_mail_at"),
                "last_error": error,
                "failures": failures,
                "failing_since": None if error is None else (
                    (old or {}).get("failing_since") or now),
            }
            self.db["mailbox_health"].upsert(row, pk="station")

    def mailbox_health(self) -> list[Row]:
        return self.query("SELECT * FROM mailbox_health ORDER BY station")

    # -- messages ---------------------------------------------------------------------------

    def find_message(self, station: str, dedupe_key: str) -> Row | None:
        return self.one(
            "SELECT * FROM messages WHERE station = ? AND dedupe_key = ?", (station, dedupe_key)
        )

    def known_uids(self, station: str, uidvalidity: int, uids: list[int]) -> set[int]:
        """Which of these UIDs (under this UIDVALIDITY) are already recorded."""
        known: set[int] = set()
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self.query(
                f"SELECT uid FROM messages WHERE station = ? AND uidvalidity = ? "
                f"AND uid IN ({marks})", (station, uidvalidity, *chunk),
            )
            known.update(r["uid"] for r in rows)
        return known

    def add_message(self, **fields: Any) -> int:
        fields.setdefault("received_at", self.now())
        return self._insert("messages", fields)

    def set_message(self, message_row: int, **fields: Any) -> None:
        self._update("messages", message_row, fields)

    def add_attachment(self, message_row: int, filename: str, content_type: str, size: int,
                       sha256: str) -> int:
        return self._insert("attachments", {
            "message_row": message_row, "filename": filename, "content_type": content_type,
            "size": size, "sha256": sha256,
        })

    def attachments(self, message_row: int) -> list[Row]:
        return self.query("SELECT * FROM attachments WHERE message_row = ? ORDER BY id",
                          (message_row,))

    def messages_from(self, station: str, address: str, since: datetime) -> int:
        row = self.one(
            "SELECT count(*) AS n FROM messages WHERE station = ? AND from_addr = ? "
            "AND received_at >= ?", (station, address, to_iso(since)),
        )
        return int(row["n"]) if row else 0

    def complaint_messages(self, complaint_id: int) -> list[Row]:
        return self.query(
            "SELECT * FROM messages WHERE complaint_id = ? ORDER BY id", (complaint_id,)
        )

    def first_message(self, complaint_id: int) -> Row | None:
        """The mail that started a complaint."""
        return self.one("SELECT * FROM messages WHERE complaint_id = ? ORDER BY id LIMIT 1",
                        (complaint_id,))

    def first_message_id_from(self, complaint_id: int, address: str) -> str | None:
        """The Message-ID of the first mail `address` sent about a complaint."""
        row = self.one(
            "SELECT message_id FROM messages WHERE complaint_id = ? AND message_id IS NOT NULL "
            "AND from_addr = ? ORDER BY id LIMIT 1", (complaint_id, address))
        return row["message_id"] if row else None

    def refusals_since(self, address: str, since: datetime) -> list[str]:
        """The reasons of every refused officer mail from `address` since a moment."""
        rows = self.query("SELECT reason FROM messages WHERE kind = 'refused' AND from_addr = ? "
                          "AND received_at >= ?", (address, to_iso(since)))
        return [r["reason"] for r in rows]

    def shunted(self, limit: int = 100) -> list[Row]:
        """Mails set aside by the pipeline, newest first."""
        return self.query("SELECT id, station, sha256, reason, received_at, parse_error "
                          "FROM messages WHERE kind = 'shunted' ORDER BY id DESC LIMIT ?",
                          (limit,))

    def message(self, message_row: int) -> Row | None:
        return self.one("SELECT * FROM messages WHERE id = ?", (message_row,))

    def delete_message(self, message_row: int) -> None:
        """Only for replaying a shunted mail: its row makes way for the real record."""
        with self._writing():
            self.db.execute("DELETE FROM attachments WHERE message_row = ?", (message_row,))
            self.db.execute("DELETE FROM messages WHERE id = ?", (message_row,))

    # -- complaints and their audit trail ----------------------------------------------------

    def next_code(self, station: str, moment: datetime) -> str:
        """BHL-2611-0007: station, year and month, then a number counting up within it."""
        period = moment.strftime("%y%m")
        with self._writing():
            self.db.execute(
                "INSERT INTO code_counters (station, period, last) VALUES (?, ?, 1) "
                "ON CONFLICT (station, period) DO UPDATE SET last = last + 1",
                (station, period),
            )
            row = self.one(
                "SELECT last FROM code_counters WHERE station = ? AND period = ?",
                (station, period),
            )
        assert row is not None
        return f"{station}-{period}-{row['last']:04d}"

    def add_complaint(self, **fields: Any) -> int:
        fields["reasons"] = json.dumps(list(fields.get("reasons", ())), ensure_ascii=False)
        fields.setdefault("created_at", self.now())
        fields.setdefault("updated_at", fields["created_at"])
        fields.setdefault("clock_start", fields["created_at"])
        return self._insert("complaints", fields)

    def set_complaint(self, complaint_id: int, **fields: Any) -> None:
        fields.setdefault("updated_at", self.now())
        self._update("complaints", complaint_id, fields)

    def complaint(self, complaint_id: int) -> Row | None:
        return self._decoded(self.one("SELECT * FROM complaints WHERE id = ?", (complaint_id,)))

    def complaint_by_code(self, code: str) -> Row | None:
        return self._decoded(
            self.one("SELECT * FROM complaints WHERE code = ?", (code.upper(),))
        )

    def complaint_by_message_ids(self, message_ids: list[str]) -> Row | None:
        """The complaint a mail refers to, through any Message-ID we sent or received."""
        if not message_ids:
            return None
        marks = ", ".join("?" for _ in message_ids)
        row = self.one(
            f"SELECT complaint_id FROM outbox WHERE message_id IN ({marks}) "
            f"AND complaint_id IS NOT NULL UNION ALL "
            f"SELECT complaint_id FROM messages WHERE message_id IN ({marks}) "
            f"AND complaint_id IS NOT NULL LIMIT 1",
            (*message_ids, *message_ids),
        )
        return self.complaint(row["complaint_id"]) if row else None

    def sent_mail(self, message_ids: list[str]) -> list[bytes]:
        """The raw copies of our own mails named by a reply's In-Reply-To/References (at
        most _SENT_MAIL_LIMIT, newest first): the quote finder looks for them in the reply."""
        ids = list(dict.fromkeys(message_ids))[:_SENT_MAIL_IDS]
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = self.query(f"SELECT raw FROM outbox WHERE message_id IN ({marks}) "
                          f"ORDER BY id DESC LIMIT {_SENT_MAIL_LIMIT}", tuple(ids))
        return [bytes(row["raw"]) for row in rows]

    def officer_reply_texts(self, address: str, limit: int = 6, scan: int = 20_000) -> list[str]:
        """The texts of the last ``limit`` officer replies from ``address`` among the last
        ``scan`` mails (a rowid range, so the cost is bounded without an index on the
        address), newest first: the quote finder learns the officer's own signature from the
        block these replies end with."""
        rows = self.query(
            "SELECT text FROM messages WHERE id > (SELECT coalesce(max(id), 0) FROM messages) - ? "
            "AND kind = 'officer' AND from_addr = ? AND text IS NOT NULL ORDER BY id DESC LIMIT ?",
            (scan, address, limit))
        return [row["text"] for row in rows]

    def complaints(self, where: str = "1", params: tuple = (), limit: int = 100) -> list[Row]:
        rows = self.query(
            f"SELECT * FROM complaints WHERE {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [self._decoded(r) for r in rows]  # type: ignore[misc]

    @staticmethod
    def _decoded(row: Row | None) -> Row | None:
        if row is not None and isinstance(row.get("reasons"), str):
            row["reasons"] = json.loads(row["reasons"])
        return row

    def add_event(self, complaint_id: int | None, actor: str, action: str,
                  detail: dict | None = None, message_row: int | None = None) -> int:
        return self._insert("events", {
            "complaint_id": complaint_id, "at": self.now(), "actor": actor, "action": action,
            "detail": json.dumps(detail or {}, ensure_ascii=False), "message_row": message_row,
        })

    def events(self, complaint_id: int) -> list[Row]:
        rows = self.query("SELECT * FROM events WHERE complaint_id = ? ORDER BY id",
                          (complaint_id,))
        for row in rows:
            row["detail"] = json.loads(row["detail"] or "{}")
        return rows

    # -- backup ---------------------------------------------------------------------------------

    def backup(self, target: Path, progress: Progress | None = None) -> dict[str, int]:
        """A consistent copy while running: the database through SQLite's online backup,
        then the raw mails and attachments not yet in the target (files never change once
        written: they are named by their SHA-256). ``progress(done, total)`` is told after
        each file."""
        target = _private_dir(Path(target))
        copy = sqlite3.connect(target / "maildesk.db")
        try:
            with self.lock:
                self.db.conn.backup(copy)
        finally:
            copy.close()
        os.chmod(target / "maildesk.db", 0o600)
        copied = {"files": 0, "bytes": 0}
        sources = [(kind, source) for kind in ("raw", "attachments")
                   for source in sorted((self.data_dir / kind).glob("*/*"))
                   if not source.name.startswith(".") and ".tmp" not in source.name]
        for done, (kind, source) in enumerate(sources, 1):
            dest = target / kind / source.parent.name / source.name
            if not dest.exists():
                _write_private(dest, source.read_bytes(), sync=True)
                copied["files"] += 1
                copied["bytes"] += dest.stat().st_size
            if progress:
                progress(done, len(sources))
        return copied

    # -- escalations and incidents: each remembered so that it is sent once ------------------

    def claim_escalation(self, key: str, complaint_id: int, tier: str, due_at: str) -> bool:
        """Record an alert as sent; False when it already was. Call inside a transaction."""
        with self._writing():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO escalations (key, complaint_id, tier, due_at, sent_at) "
                "VALUES (?, ?, ?, ?, ?)", (key, complaint_id, tier, due_at, self.now()),
            )
            return cursor.rowcount == 1

    def set_escalation_outbox(self, key: str, outbox_ids: str) -> None:
        with self._writing():
            self.db.execute("UPDATE escalations SET outbox_ids = ? WHERE key = ?",
                            (outbox_ids, key))

    def reclassifications(self, limit: int) -> list[Row]:
        """Officers' re-classifications, newest first, with their complaint's code."""
        return self.query(
            "SELECT e.at, e.actor, e.detail, c.code, c.station FROM events e JOIN complaints c "
            "ON c.id = e.complaint_id WHERE e.action = 'reclassified' ORDER BY e.id DESC "
            "LIMIT ?", (limit,))

    def escalations(self, complaint_id: int) -> list[Row]:
        return self.query("SELECT * FROM escalations WHERE complaint_id = ? ORDER BY sent_at, "
                          "key", (complaint_id,))

    def open_incident(self, key: str, station: str, kind: str, started_at: str) -> bool:
        """Start an incident (a mailbox down or silent); False when it is already known."""
        with self._writing():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO incidents (key, station, kind, started_at, alerted_at) "
                "VALUES (?, ?, ?, ?, ?)", (key, station, kind, started_at, self.now()),
            )
            return cursor.rowcount == 1

    def all_open_incidents(self) -> list[Row]:
        return self.query("SELECT * FROM incidents WHERE recovered_at IS NULL ORDER BY started_at")

    def open_incidents(self, station: str, kind: str) -> list[Row]:
        return self.query("SELECT * FROM incidents WHERE station = ? AND kind = ? AND "
                          "recovered_at IS NULL", (station, kind))

    def unrecovered_incidents(self) -> list[Row]:
        return self.query("SELECT * FROM incidents WHERE recovered_at IS NULL ORDER BY "
                          "started_at")

    def close_incident(self, key: str) -> bool:
        with self._writing():
            cursor = self.db.execute(
                "UPDATE incidents SET recovered_at = ? WHERE key = ? AND recovered_at IS NULL",
                (self.now(), key),
            )
            return cursor.rowcount == 1

    # -- addresses that bounce --------------------------------------------------------------

    def mark_undeliverable(self, address: str, reason: str) -> None:
        with self._writing():
            self.db["undeliverable"].upsert(
                {"address": address, "since": self.now(), "reason": reason}, pk="address"
            )

    def is_undeliverable(self, address: str) -> bool:
        row = self.one("SELECT 1 AS x FROM undeliverable WHERE address = ?", (address,))
        return row is not None

    # -- the outbox ---------------------------------------------------------------------------

    def queue_mail(self, *, message_id: str, kind: str, station: str, mail_from: str,
                   rcpt_to: list[str], raw: bytes, complaint_id: int | None = None) -> int:
        """Queue one outgoing mail; call inside the transaction of the change that caused it."""
        now = self.now()
        return self._insert("outbox", {
            "message_id": message_id, "kind": kind, "station": station,
            "complaint_id": complaint_id, "mail_from": mail_from,
            "rcpt_to": json.dumps(rcpt_to), "raw": raw, "status": "pending", "attempts": 0,
            "created_at": now, "next_attempt_at": now,
        })

    def due_mail(self, limit: int = 100, skip_stations: list[str] | None = None,
                 stations: list[str] | None = None) -> list[Row]:
        """Pending mail that is due, oldest first; none of `skip_stations`, and only of
        `stations` when given."""
        where, params = ["status = 'pending'", "next_attempt_at <= ?"], [self.now()]
        for names, test in ((skip_stations, "NOT IN"), (stations, "IN")):
            if names is not None and (names or test == "IN"):
                where.append(f"station {test} ({', '.join('?' for _ in names)})")
                params.extend(names)
        rows = self.query(f"SELECT * FROM outbox WHERE {' AND '.join(where)} ORDER BY id "
                          f"LIMIT ?", (*params, limit))
        for row in rows:
            row["rcpt_to"] = json.loads(row["rcpt_to"])
        return rows

    def due_stations(self) -> list[str]:
        """The stations that have pending mail due, in the order of their oldest."""
        rows = self.query("SELECT station, min(id) AS first FROM outbox WHERE status = "
                          "'pending' AND next_attempt_at <= ? GROUP BY station ORDER BY first",
                          (self.now(),))
        return [r["station"] for r in rows]

    def mark_sent(self, outbox_id: int) -> None:
        now = self.now()
        with self.transaction():
            self.db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1 "
                "WHERE id = ?", (now, outbox_id),
            )
            row = self.one("SELECT kind, complaint_id FROM outbox WHERE id = ?", (outbox_id,))
            if row and row["kind"] == "ack" and row["complaint_id"]:
                self.db.execute(
                    "UPDATE complaints SET acknowledged_at = ?, status = CASE WHEN status = "
                    "'received' THEN 'acknowledged' ELSE status END WHERE id = ? AND "
                    "acknowledged_at IS NULL", (now, row["complaint_id"]),
                )
                self.add_event(row["complaint_id"], "maildesk", "acknowledged",
                               {"outbox": outbox_id})

    def mark_retry(self, outbox_id: int, error: str, next_attempt: datetime) -> None:
        with self._writing():
            self.db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                "WHERE id = ?", (error, to_iso(next_attempt), outbox_id),
            )

    def mark_waiting(self, outbox_ids: list[int], error: str) -> None:
        """An attempt that found the server down: noted, and the mail stays due, in order."""
        for start in range(0, len(outbox_ids), 500):
            chunk = outbox_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            with self._writing():
                self.db.execute(f"UPDATE outbox SET attempts = attempts + 1, last_error = ? "
                                f"WHERE id IN ({marks})", (error, *chunk))

    def mark_failed(self, outbox_id: int, error: str) -> None:
        with self._writing():
            self.db.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, "
                "failed_at = ? WHERE id = ?", (error, self.now(), outbox_id),
            )

    def outbox_counts(self) -> dict[str, int]:
        rows = self.query("SELECT status, count(*) AS n FROM outbox GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def outbox_id(self, message_id: str) -> int | None:
        row = self.one("SELECT id FROM outbox WHERE message_id = ?", (message_id,))
        return int(row["id"]) if row else None

    def oldest_waiting(self) -> str | None:
        """When the oldest mail still waiting in the outbox was queued (stored form)."""
        row = self.one("SELECT min(created_at) AS t FROM outbox WHERE status = 'pending'")
        return row["t"] if row else None

    def outbox_errors(self, limit: int) -> list[Row]:
        return self.query("SELECT kind, last_error, created_at FROM outbox "
                          "WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT ?", (limit,))

    def outbox_retrying(self) -> int:
        """Mail still waiting after at least one failed attempt."""
        row = self.one("SELECT count(*) AS n FROM outbox WHERE status = 'pending' "
                       "AND attempts > 0")
        return int(row["n"]) if row else 0

    def outbox_failed_since(self, since: datetime) -> int:
        """Mail given up on since `since`."""
        row = self.one("SELECT count(*) AS n FROM outbox WHERE status = 'failed' "
                       "AND failed_at >= ?", (to_iso(since),))
        return int(row["n"]) if row else 0

    def outbox(self, where: str = "1", params: tuple = ()) -> list[Row]:
        rows = self.query(f"SELECT * FROM outbox WHERE {where} ORDER BY id", params)
        for row in rows:
            row["rcpt_to"] = json.loads(row["rcpt_to"])
        return rows

    # -- answers: reply budgets, bounces that name our mail, floods (sorting and outgoing) --

    def answers_since(self, since: datetime, *, address: str | None = None,
                      station: str | None = None) -> int:
        """Answers queued (not held back) since a moment: to one address, from one station,
        or all of them."""
        where, params = ["held = 0", "at >= ?"], [to_iso(since)]
        if address is not None:
            where.append("address = ?")
            params.append(address)
        if station is not None:
            where.append("station = ?")
            params.append(station)
        row = self.one(f"SELECT count(*) AS n FROM answers WHERE {' AND '.join(where)}",
                       tuple(params))
        return int(row["n"]) if row else 0

    def note_answer(self, address: str, station: str, kind: str, held: bool = False) -> None:
        self._insert("answers", {"address": address, "station": station, "kind": kind,
                                 "at": self.now(), "held": int(held)})

    def flood_senders(self, stations: list[str], since: datetime, until: datetime,
                      limit: int = 20) -> list[Row]:
        """The senders a flood came from in a period, per station: mails held back by the
        per-sender limit and answers held back by a reply budget, with all their mails."""
        if not stations:
            return []
        marks = ", ".join("?" for _ in stations)
        period = (to_iso(since), to_iso(until))
        return self.query(
            f"SELECT f.station, f.address, sum(f.limited) AS limited, sum(f.held) AS held, "
            f"(SELECT count(*) FROM messages m WHERE m.station = f.station "
            f"AND m.from_addr = f.address AND m.received_at >= ? AND m.received_at < ?) "
            f"AS mails FROM ("
            f"SELECT station, from_addr AS address, 1 AS limited, 0 AS held FROM messages "
            f"WHERE kind = 'rate_limited' AND from_addr IS NOT NULL AND station IN ({marks}) "
            f"AND received_at >= ? AND received_at < ? UNION ALL "
            f"SELECT station, address, 0, 1 FROM answers WHERE held = 1 "
            f"AND station IN ({marks}) AND at >= ? AND at < ?) f "
            f"GROUP BY f.station, f.address ORDER BY sum(f.limited) + sum(f.held) DESC, "
            f"f.address LIMIT ?",
            (*period, *stations, *period, *stations, *period, limit))

    def sent_to(self, message_ids: list[str]) -> dict[str, list[str]]:
        """Of these Message-IDs, those the desk queued itself, with their recipients."""
        if not message_ids:
            return {}
        marks = ", ".join("?" for _ in message_ids)
        rows = self.query(f"SELECT message_id, rcpt_to FROM outbox WHERE message_id IN "
                          f"({marks})", tuple(message_ids))
        return {r["message_id"]: json.loads(r["rcpt_to"]) for r in rows}

    def outbox_kinds(self, message_ids: list[str]) -> set[str]:
        """The kinds of the desk's own mails among these Message-IDs."""
        if not message_ids:
            return set()
        marks = ", ".join("?" for _ in message_ids)
        rows = self.query(f"SELECT DISTINCT kind FROM outbox WHERE message_id IN ({marks})",
                          tuple(message_ids))
        return {r["kind"] for r in rows}
