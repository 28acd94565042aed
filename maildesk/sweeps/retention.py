"""Retention: the raw mails and attachments of complaints closed more than `retention_days`
ago are removed by the daemon's sweep. What maildesk recorded (the complaint, its messages'
text, its history) stays for the figures; 0 days, the default, keeps everything."""

from __future__ import annotations

import logging
from datetime import timedelta

from maildesk.desk import Desk

log = logging.getLogger(__name__)


def apply_retention(desk: Desk) -> dict[str, int]:
    days = desk.config.retention_days
    if days <= 0:
        return {"messages": 0, "files": 0}
    done = desk.store.purge_closed(desk.clock.now() - timedelta(days=days))
    if done["messages"]:
        log.info("retention: files of %d mails of complaints closed over %d days ago "
                 "removed (%d files)", done["messages"], days, done["files"])
    return done
