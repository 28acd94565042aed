"""A small desk for the web tests: two zones, a DCP each and an administrator, complaints
stored through the Store (the web server reads them through its own read-only connection)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deskenv import figures_config

from maildesk.clock import FakeClock, to_iso
from maildesk.config.settings import Config, WebAccount, WebSettings
from maildesk.store.db import Store
from maildesk.web.auth import hash_password

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 11:30 IST, after the 09:00 digest
PASSWORDS = {"dcp.ne": "north-east-pass", "dcp.z6": "zone-six-pass", "admin": "admin-pass"}
HASHES = {user: hash_password(pw) for user, pw in PASSWORDS.items()}


def web_config(directory: Path, **web: object) -> Config:
    accounts = (WebAccount("dcp.ne", HASHES["dcp.ne"], "KOL-NE"),
                WebAccount("dcp.z6", HASHES["dcp.z6"], "MUM-Z6"),
                WebAccount("admin", HASHES["admin"], None))
    settings = WebSettings(accounts=accounts, secret_key="test-secret", **web)  # type: ignore[arg-type]
    return dataclasses.replace(figures_config(directory), web=settings)


def add_complaint(store: Store, code: str, urgency: str, age: timedelta, *,
                  subject: str = "Chain snatched near the market",
                  resident: str = "rina.dutta@example.net", acted: bool = False,
                  language: str = "en") -> int:
    created = to_iso(NOW - age)
    return store.add_complaint(
        code=code, station=code.split("-")[0], urgency=urgency, status="acknowledged",
        resident_addr=resident, resident_name="Rina Dutta", subject=subject, language=language,
        created_at=created, acknowledged_at=created, clock_start=created,
        first_action_at=created if acted else None,
        reasons=["phrase 'snatched' (theft happening now)"])


def fill(store: Store) -> dict[str, int]:
    """BHL (KOL-NE): an urgent overdue one with a mail, an attachment and a public note, and
    an older semi-urgent overdue one; AND (MUM-Z6): one overdue."""
    ids = {}
    with store.transaction():
        ids["BHL-2611-0001"] = add_complaint(store, "BHL-2611-0001", "urgent",
                                             timedelta(hours=2))
        ids["BHL-2611-0002"] = add_complaint(store, "BHL-2611-0002", "semi_urgent",
                                             timedelta(hours=30), subject="Noise every night")
        ids["LKT-2611-0001"] = add_complaint(store, "LKT-2611-0001", "non_urgent",
                                             timedelta(hours=1), acted=True)
        ids["AND-2611-0001"] = add_complaint(store, "AND-2611-0001", "urgent",
                                             timedelta(hours=3), subject="Andheri theft",
                                             resident="mumbai.resident@example.net")
        message = store.add_message(
            station="BHL", dedupe_key="m1", sha256="0" * 64, size=100, message_id="<m1@x>",
            received_at=to_iso(NOW - timedelta(hours=2)), from_addr="rina.dutta@example.net",
            subject="Chain snatched near the market", text="They are running towards the "
            "station road now.\n\nOn Mon, Rina wrote:\n> earlier text", kind="new",
            complaint_id=ids["BHL-2611-0001"])
        data = b"%PDF-1.4 a photo of the scooter"
        store.save_blob(data, "a" * 64)
        ids["attachment"] = store.add_attachment(message, "scooter photo.pdf",
                                                 "application/pdf", len(data), "a" * 64)
        store.add_event(ids["BHL-2611-0001"], "rina.dutta@example.net", "received", {},
                        message)
        store.add_event(ids["BHL-2611-0002"], "si.bhl@maildesk.test", "progress",
                        {"note": "A patrol visited the lane."})
        store.add_event(ids["BHL-2611-0002"], "si.bhl@maildesk.test", "note",
                        {"note": "INTERNAL: neighbour is a known troublemaker"})
    return ids


def open_store(config: Config) -> Store:
    return Store(config.data_dir, FakeClock(NOW))
