"""Telling systemd how the daemon is doing: the sd_notify datagram protocol, by hand.

The protocol is one unix datagram of newline-separated `NAME=value` fields sent to the
socket named by $NOTIFY_SOCKET (a leading '@' means Linux's abstract namespace). Outside
systemd the variable is unset and every call does nothing. Written here because it is a
dozen lines: the maintained bindings need libsystemd headers to build.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(env: Mapping[str, str]) -> str | None:
    path = env.get("NOTIFY_SOCKET")
    if not path or path[0] not in "/@":
        return None  # unset, or a vsock address, which maildesk has no use for
    return "\0" + path[1:] if path[0] == "@" else path


def notify(*fields: str, env: Mapping[str, str] | None = None) -> bool:
    """Send fields like "READY=1"; True when a service manager was there to receive them."""
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Never wait on a receiver that does not read: a full queue drops the message
            # instead of stopping the event loop the pings come from.
            sock.setblocking(False)
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError as exc:
        # systemd going away must not take the daemon with it: it would restart us anyway.
        log.warning("sd_notify to %s failed: %s", address.lstrip("\0"), exc)
        return False
    return True


def watchdog_seconds(env: Mapping[str, str] | None = None) -> float | None:
    """The watchdog interval systemd expects pings within (WatchdogSec=), if it is on for
    this process."""
    env = os.environ if env is None else env
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        seconds = int(usec) / 1_000_000
    except ValueError:
        return None
    return seconds if seconds > 0 else None
