"""Prometheus metrics from the running daemon (a subprocess, as in production), on a
loopback port, against Dovecot and the recording SMTP server."""

from __future__ import annotations

import re
import secrets
import urllib.request

import yaml
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port
from test_daemon import (
    OFFICER,
    StationAccount,
    complaint_mail,
    running_daemon,
    station,
    write_daemon_config,
)


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_daemon_serves_metrics_on_loopback(tmp_path, dovecot, mailbox_user, smtp):
    bhl = station(mailbox_user)
    other = dovecot.add_user(f"st{secrets.token_hex(4)}", secrets.token_hex(8))
    broken = StationAccount("LKT", other.name, "not-the-password", (OFFICER,))
    path, _ = write_daemon_config(tmp_path, dovecot, smtp, [bhl, broken])
    port = free_port()
    data = yaml.safe_load(path.read_text())
    data["maildesk"]["metrics_port"] = port
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    dovecot.append(bhl.user, complaint_mail(1, bhl.address))
    with running_daemon(path) as daemon:
        daemon.wait_for(r"metrics on http://127\.0\.0\.1:")
        daemon.wait_for(r"station LKT: pass failed")
        taken = daemon.wait_for(r"station BHL: 1 mails taken in")
        sent, at = 0, taken
        while sent < 2:  # the acknowledgement and the officers' notification, logged sent
            at = daemon.wait_for(r"outbox: \d+ sent", at)
            sent += int(re.search(r"outbox: (\d+) sent", daemon.lines[at]).group(1))
            at += 1
        metrics = scrape(port)
        assert daemon.stop() == 0
    daemon.assert_clean()

    assert metrics[("maildesk_mails_taken_in_total", (("station", "BHL"),))] == 1
    assert metrics[("maildesk_acknowledged_total", (("station", "BHL"),))] == 1
    assert metrics[("maildesk_ack_latency_seconds_count", ())] == 1
    assert metrics[("maildesk_outbox", (("status", "sent"),))] == 2
    assert metrics[("maildesk_outbox", (("status", "pending"),))] == 0
    assert metrics[("maildesk_errors_total", (("stage", "intake"), ("station", "LKT")))] >= 1
    assert metrics[("maildesk_mailbox_failures", (("station", "LKT"),))] >= 1
    assert metrics[("maildesk_mailbox_failures", (("station", "BHL"),))] == 0
