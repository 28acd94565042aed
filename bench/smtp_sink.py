"""A counting SMTP server in a process of its own, so that a benchmark measures maildesk and
not a test server sharing its interpreter.

    python bench/smtp_sink.py PORT
prints "ready"; each line "count" read on stdin is answered with a JSON line
{"messages": N, "to": {"address": N, ...}}; end of stdin stops it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import free_port  # noqa: E402


class SmtpSink:
    """This file run as its own process, seen from the benchmark: start, count, stop."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.process = subprocess.Popen([sys.executable, __file__, str(self.port)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def count(self) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # end of input: the sink stops
        self.process.wait(timeout=30)


class CountingHandler:
    def __init__(self) -> None:
        self.messages = 0
        self.to: Counter[str] = Counter()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.messages += 1
        self.to.update(envelope.rcpt_tos)
        return "250 OK"


def main() -> None:
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]),
                            server_hostname="sink.localhost")
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                print(json.dumps({"messages": handler.messages, "to": dict(handler.to)}),
                      flush=True)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
