"""Run a program on a pseudo-terminal, as a person at a terminal would (mutt, progress bars)."""

from __future__ import annotations

import os
import pty
import select
import struct
import subprocess
import termios
import time
from fcntl import ioctl


def run_on_pty(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """Run a full-screen program on a fresh pseudo-terminal; return (exit code, screen bytes).

    The terminal output is drained all along (a full pty buffer would block the program);
    the program is killed (by its PID) if it has not exited within ``timeout``.
    """
    master, slave = pty.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                   start_new_session=True, close_fds=True)
    finally:
        os.close(slave)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{argv[0]} did not finish within {timeout}s; screen:\n"
                                   + screen[-3000:].decode(errors="replace"))
            ready, _, _ = select.select([master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every process on the terminal has closed it
                    chunk = b""
                if not chunk:
                    break
                screen += chunk
            elif process.poll() is not None:
                break
        return process.wait(timeout=max(deadline - time.monotonic(), 1.0)), bytes(screen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
