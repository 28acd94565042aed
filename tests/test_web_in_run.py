"""`web.in_daemon`: `maildesk run` serves the web pages beside the daemon, in one process."""

from __future__ import annotations

import socket
import urllib.request

from conversation import Conversation
from deskenv import resident_mail
from servers import free_port
from test_daemon import DaemonProcess

RESIDENT = "tapas.roy@example.in"


def web_config(conversation: Conversation, port: int) -> None:
    conversation.configure()
    path = conversation.config.path
    text = path.read_text()
    path.write_text(text + f"web:\n  host: 127.0.0.1\n  port: {port}\n  in_daemon: true\n")


def test_run_serves_the_status_page_while_it_takes_in_mail(conversation: Conversation) -> None:
    port = free_port()
    web_config(conversation, port)
    daemon = DaemonProcess(conversation.config.path)
    try:
        daemon.wait_for(r"web: serving on 127\.0\.0\.1:\d+ beside the daemon")
        daemon.wait_for(r"Uvicorn running|Application startup complete")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as page:
            assert page.status == 200 and "Where is my complaint?" in page.read().decode()
        # The daemon still does its work: a resident's mail is acknowledged and notified.
        conversation.deliver(resident_mail(RESIDENT, conversation.bhl.address,
                                           "Phone stolen", "My phone was stolen.", "w1@x"))
        conversation.smtp.wait_for(2, timeout=60)
        assert conversation.received(RESIDENT)
    finally:
        code = daemon.stop()
    assert code == 0
    # Both stopped with the one SIGTERM: nothing listens on the port any more.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_web_port_in_use_stops_run_at_start(conversation: Conversation) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        web_config(conversation, taken.getsockname()[1])
        daemon = DaemonProcess(conversation.config.path)
        assert daemon.wait(timeout=60) == 1
    assert any("web: cannot listen on 127.0.0.1" in line for line in daemon.lines)
