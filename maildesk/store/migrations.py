"""Schema migrations, applied in order; each runs in its own transaction and is recorded in
`schema_migrations`. Never edit a released migration: add a new one."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _run(db: sqlite_utils.Database, script: str) -> None:
    # Not executescript(): it would commit the surrounding migration transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def create_tables(db: sqlite_utils.Database) -> None:
    _run(
        db,
        """
        CREATE TABLE checkpoints (
            station TEXT NOT NULL, folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,
            PRIMARY KEY (station, folder));
        CREATE TABLE mailbox_health (
            station TEXT PRIMARY KEY, last_poll_at TEXT, last_ok_at TEXT, last_mail_at TEXT,
            last_error TEXT, failures INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE code_counters (
            station TEXT NOT NULL, period TEXT NOT NULL, last INTEGER NOT NULL,
            PRIMARY KEY (station, period));
        CREATE TABLE complaints (
            id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, station TEXT NOT NULL,
            status TEXT NOT NULL, urgency TEXT NOT NULL, score REAL, reasons TEXT,
            resident_addr TEXT, resident_name TEXT, language TEXT, subject TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, acknowledged_at TEXT,
            first_action_at TEXT, closed_at TEXT, assigned_to TEXT);
        CREATE INDEX complaints_station_status ON complaints (station, status);
        CREATE INDEX complaints_created ON complaints (created_at);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY, station TEXT NOT NULL, dedupe_key TEXT NOT NULL,
            sha256 TEXT NOT NULL, size INTEGER NOT NULL, message_id TEXT,
            uidvalidity INTEGER, uid INTEGER, received_at TEXT NOT NULL,
            from_addr TEXT, from_name TEXT, subject TEXT, language TEXT, text TEXT,
            kind TEXT NOT NULL, reason TEXT, complaint_id INTEGER REFERENCES complaints(id),
            parse_error TEXT,
            UNIQUE (station, dedupe_key));
        CREATE INDEX messages_message_id ON messages (message_id);
        CREATE INDEX messages_complaint ON messages (complaint_id);
        CREATE INDEX messages_uid ON messages (station, uidvalidity, uid);
        CREATE INDEX messages_sender ON messages (station, from_addr, received_at);
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY, message_row INTEGER NOT NULL REFERENCES messages(id),
            filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL,
            sha256 TEXT NOT NULL);
        CREATE INDEX attachments_message ON attachments (message_row);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY, complaint_id INTEGER REFERENCES complaints(id),
            at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT,
            message_row INTEGER REFERENCES messages(id));
        CREATE INDEX events_complaint ON events (complaint_id);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
            station TEXT NOT NULL, complaint_id INTEGER REFERENCES complaints(id),
            mail_from TEXT NOT NULL, rcpt_to TEXT NOT NULL, raw BLOB NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, next_attempt_at TEXT NOT NULL, sent_at TEXT,
            last_error TEXT);
        CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
        CREATE INDEX outbox_complaint ON outbox (complaint_id);
        CREATE TABLE undeliverable (address TEXT PRIMARY KEY, since TEXT, reason TEXT);
        """
    )



def escalation_tables(db: sqlite_utils.Database) -> None:
    """Service levels and escalation: when the clock of a complaint runs (it restarts on a
    transfer and stops while waiting on the resident), and what was already sent."""
    _run(
        db,
        """
        ALTER TABLE complaints ADD COLUMN clock_start TEXT;
        ALTER TABLE complaints ADD COLUMN paused_seconds INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE complaints ADD COLUMN paused_since TEXT;
        UPDATE complaints SET clock_start = created_at;
        ALTER TABLE mailbox_health ADD COLUMN failing_since TEXT;
        CREATE TABLE escalations (
            key TEXT PRIMARY KEY, complaint_id INTEGER REFERENCES complaints(id),
            tier TEXT NOT NULL, due_at TEXT NOT NULL, sent_at TEXT NOT NULL,
            outbox_ids TEXT);
        CREATE INDEX escalations_complaint ON escalations (complaint_id);
        CREATE TABLE incidents (
            key TEXT PRIMARY KEY, station TEXT NOT NULL, kind TEXT NOT NULL,
            started_at TEXT NOT NULL, alerted_at TEXT, recovered_at TEXT);
        CREATE INDEX incidents_open ON incidents (station, kind, recovered_at);
        CREATE TABLE digests (
            zone TEXT NOT NULL, day TEXT NOT NULL, sent_at TEXT NOT NULL, outbox_id INTEGER,
            PRIMARY KEY (zone, day));
        CREATE INDEX complaints_station_created ON complaints (station, created_at);
        CREATE INDEX complaints_open ON complaints (status, urgency);
        """,
    )


def figure_indexes(db: sqlite_utils.Database) -> None:
    """For the daily digest and the monthly report: complaints still open by station (a
    partial index, small), closures by station and time, and events by action and time
    (reopened, transferred)."""
    _run(
        db,
        """
        CREATE INDEX complaints_unclosed ON complaints (station, created_at)
            WHERE closed_at IS NULL;
        CREATE INDEX complaints_station_closed ON complaints (station, closed_at);
        CREATE INDEX events_action_at ON events (action, at);
        """,
    )


def outbox_failed_at(db: sqlite_utils.Database) -> None:
    """When a mail was given up on: `status` counts the recent failures as unhealthy."""
    _run(db, "ALTER TABLE outbox ADD COLUMN failed_at TEXT")


def message_purged_at(db: sqlite_utils.Database) -> None:
    """When retention removed a message's raw file and attachments (the record stays)."""
    _run(db, "ALTER TABLE messages ADD COLUMN purged_at TEXT")


def answer_budget(db: sqlite_utils.Database) -> None:
    """Every answer the desk queues (acknowledgement, status, help, confirmation...), one row
    per recipient, so the reply budgets per address, station and hour are counted before any
    mail is queued; and held-back answers, so the digest can name a flooding sender."""
    _run(
        db,
        """
        CREATE TABLE answers (
            id INTEGER PRIMARY KEY, address TEXT NOT NULL, station TEXT NOT NULL,
            kind TEXT NOT NULL, at TEXT NOT NULL, held INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX answers_address ON answers (address, at);
        CREATE INDEX answers_station ON answers (station, at);
        CREATE INDEX answers_at ON answers (at);
        """,
    )


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    create_tables, escalation_tables, figure_indexes,
    outbox_failed_at, message_purged_at, answer_budget,
]
