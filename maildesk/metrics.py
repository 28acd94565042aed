"""Prometheus metrics (prometheus-client), served on 127.0.0.1 only when `metrics_port` is
set. Counters and the latency histogram count from the daemon's start (Prometheus handles
the reset at a restart); the outbox depth, failing mailboxes and token expiry are read from
the store and the token files at each scrape, so they are right after a restart too."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from maildesk.mail.oauth import read_state

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
TAKEN_IN = Counter("maildesk_mails_taken_in", "Mails taken in from station mailboxes",
                   ["station"], registry=REGISTRY)
ACKNOWLEDGED = Counter("maildesk_acknowledged", "Acknowledgements sent to residents",
                       ["station"], registry=REGISTRY)
ACK_LATENCY = Histogram(
    "maildesk_ack_latency_seconds", "From taking a complaint in to its acknowledgement sent",
    buckets=(5, 15, 30, 60, 120, 300, 900, 1800, 3600, 7200, 21600), registry=REGISTRY)
ERRORS = Counter("maildesk_errors", "Failed mailbox passes (intake) and mail not sent (send)",
                 ["station", "stage"], registry=REGISTRY)


class DeskCollector(Collector):
    """What the store knows, at scrape time. `desk` is read through its current config, so a
    SIGHUP's new stations show at once."""

    def __init__(self, desk: Any) -> None:
        self.desk = desk

    def collect(self) -> Iterator[GaugeMetricFamily]:
        store, config = self.desk.store, self.desk.config
        depth = GaugeMetricFamily("maildesk_outbox", "Outbox mails by status",
                                  labels=["status"])
        counts = store.outbox_counts()
        for status in ("pending", "sent", "failed"):
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        failing = GaugeMetricFamily("maildesk_mailbox_failures",
                                    "Failed passes in a row per station mailbox",
                                    labels=["station"])
        for row in store.mailbox_health():
            failing.add_metric([row["station"]], row["failures"] or 0)
        yield failing
        expiry = GaugeMetricFamily("maildesk_token_expiry_timestamp_seconds",
                                   "When the stored OAuth2 access token expires (Unix time)",
                                   labels=["station", "service"])
        for station in config.stations:
            for service, server in (("imap", station.imap), ("smtp", station.smtp)):
                if server.oauth is not None:
                    state = read_state(server.oauth.store)
                    expiry.add_metric([station.code, service], state.get("expires_at", 0))
        yield expiry


def serve(port: int, desk: Any) -> Any:
    """Start the metrics endpoint on 127.0.0.1:`port`; returns the HTTP server to shut down."""
    collector = DeskCollector(desk)
    REGISTRY.register(collector)
    server, _ = start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
    log.info("metrics on http://127.0.0.1:%d/metrics", port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        REGISTRY.unregister(collector)

    return stop
