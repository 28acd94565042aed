"""Fault injection for the crash tests: `MAILDESK_FAULT=<point>` makes the process die at
that point, as a power cut or `kill -9` would. Unset in production, it costs one lookup."""

from __future__ import annotations

import os

FAULT_EXIT_CODE = 70


def crash_point(name: str) -> None:
    if os.environ.get("MAILDESK_FAULT") == name:
        os._exit(FAULT_EXIT_CODE)
