"""`maildesk restore`: a backup made by `Store.backup` back into a data directory.

The backup is checked before anything changes: SQLite's integrity check, and every raw mail
and attachment its database refers to present with the right SHA-256. Then the files are
copied, the database goes in by SQLite's backup API (never a plain copy), and migrations
bring it up to this version. A database already in the data directory is kept beside it,
renamed, never overwritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from maildesk.clock import Clock
from maildesk.errors import ConfigError
from maildesk.store.db import Progress, Store, _private_dir, _sync_filesystem, _write_private


@dataclass
class Restored:
    complaints: int
    messages: int
    files: int
    kept_aside: Path | None


def _referenced(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """(kind, sha256) of every file the database refers to."""
    rows = db.execute("SELECT 'raw', sha256 FROM messages UNION "
                      "SELECT 'attachments', sha256 FROM attachments").fetchall()
    return [(kind, sha) for kind, sha in rows]


def _blob(root: Path, kind: str, sha: str) -> Path:
    return root / kind / sha[:2] / f"{sha}.{'eml' if kind == 'raw' else 'bin'}"


def check_backup(source: Path) -> list[tuple[str, str]]:
    """The files the backup's database refers to; ConfigError saying what is wrong."""
    path = source / "maildesk.db"
    if not path.is_file():
        raise ConfigError(f"{source}: no maildesk.db here; give the folder `maildesk backup` "
                          "wrote")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise ConfigError(f"{path}: the database is damaged: {result}")
        files = _referenced(db)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: not a maildesk database: {exc}") from exc
    finally:
        db.close()
    for kind, sha in files:
        blob = _blob(source, kind, sha)
        if not blob.is_file():
            raise ConfigError(f"{source}: {blob.relative_to(source)} is missing from the "
                              "backup; nothing was restored")
        if hashlib.sha256(blob.read_bytes()).hexdigest() != sha:
            raise ConfigError(f"{blob}: its content does not match its name; nothing was "
                              "restored")
    return files


def restore(source: Path, data_dir: Path, clock: Clock | None = None,
            progress: Progress | None = None) -> Restored:
    source, data_dir = Path(source), _private_dir(Path(data_dir))
    with open(data_dir / "intake.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"maildesk (run or poll) is using {data_dir}; stop it before "
                              "restoring") from None
        files = check_backup(source)
        written = []
        for done, (kind, sha) in enumerate(files, 1):
            dest = _blob(data_dir, kind, sha)
            if _write_private(dest, _blob(source, kind, sha).read_bytes(), sync=False):
                written.append(dest)
            if progress:
                progress(done, len(files))
        if written:  # the files are on disk before the database that refers to them
            _sync_filesystem(data_dir, written)
        kept = _set_aside(data_dir)
        target = data_dir / "maildesk.db"
        src = sqlite3.connect(f"file:{source / 'maildesk.db'}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        os.chmod(target, 0o600)
        store = Store(data_dir, clock)  # applies the migrations of this version
        try:
            complaints = store.one("SELECT count(*) AS n FROM complaints")
            messages = store.one("SELECT count(*) AS n FROM messages")
        finally:
            store.close()
    return Restored(int(complaints["n"]) if complaints else 0,
                    int(messages["n"]) if messages else 0, len(written), kept)


def _set_aside(data_dir: Path) -> Path | None:
    """Move an existing database (and its WAL files) to maildesk.db.before-restore[.N]."""
    current = data_dir / "maildesk.db"
    if not current.exists():
        return None
    # A checkpoint folds the WAL into the file, so the set-aside copy is whole on its own.
    db = sqlite3.connect(current)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    n, aside = 0, data_dir / "maildesk.db.before-restore"
    while aside.exists():
        n += 1
        aside = data_dir / f"maildesk.db.before-restore.{n}"
    os.replace(current, aside)
    for suffix in ("-wal", "-shm"):
        leftover = data_dir / f"maildesk.db{suffix}"
        if leftover.exists():
            leftover.unlink()
    return aside
