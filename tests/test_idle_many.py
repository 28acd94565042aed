"""Many stations' IDLE connections on the real Dovecot (tests/servers.py), held by a few
threads: a mail to any of them wakes that station and no other; connections dropped by the
server come back; stop() ends them all at once. Speed is bench/scale.py's business: here
every wait is on a condition with a deadline."""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deskenv import StationAccount, config_for, resident_mail
from servers import Dovecot
from test_idle import Wakes

from maildesk.config.settings import Station
from maildesk.intake.watcher import CONNECTORS, Watchers
from maildesk.outages import Outages

STATIONS = 40
DEADLINE = 60  # seconds for all of them to connect, on a shared 2-core machine


def stations_on(server: Dovecot, directory: Path, count: int) -> list[Station]:
    accounts = []
    for n in range(count):
        user = server.add_user(f"st{secrets.token_hex(4)}", secrets.token_hex(8))
        accounts.append(StationAccount(f"ST{chr(65 + n // 26)}{chr(65 + n % 26)}", user.name,
                                       user.password))
    config = config_for(directory, (server.host, server.port), ("127.0.0.1", 9), accounts)
    return list(config.stations)


@contextmanager
def watching(stations: list[Station]) -> Iterator[tuple[Watchers, Wakes, Outages]]:
    wakes, outages = Wakes(DEADLINE), Outages()
    watchers = Watchers(wakes, outages)
    watchers.start()
    for station in stations:
        watchers.watch(station)
    try:
        yield watchers, wakes, outages
    finally:
        watchers.stop()
        assert watchers.join(10), "the watchers did not stop"


def all_idling(watchers: Watchers, stations: list[Station], connections: int = 1) -> None:
    codes = {s.code for s in stations}
    assert watchers.wait_for(
        lambda: watchers.idling == codes
        and all(watchers.connections.get(c) == connections for c in codes), DEADLINE), (
        f"{len(watchers.idling)} of {len(codes)} idling; connections {watchers.connections}")


def complaint(station: Station, tag: str) -> bytes:
    return resident_mail("rina.das@gmail.com", station.address, f"Theft {tag}",
                         f"My bicycle was stolen near the market ({tag}).",
                         f"{tag}-{secrets.token_hex(4)}@example.in")


def test_many_stations_few_threads_and_a_mail_to_any_wakes_that_one(tmp_path, dovecot):
    stations = stations_on(dovecot, tmp_path, STATIONS)
    before = threading.active_count()
    with watching(stations) as (watchers, wakes, _):
        all_idling(watchers, stations)
        assert threading.active_count() - before == 1 + CONNECTORS
        for station in stations:
            wakes.wait("IDLE connected", code=station.code)
        chosen = random.Random(14).sample(stations, 6)
        for n, station in enumerate(chosen):
            dovecot.append(station.imap.user, complaint(station, f"many-{n}"))
            wakes.wait("IDLE reports new mail", code=station.code)
        assert wakes.woken("IDLE reports new mail") == {s.code for s in chosen}
        assert wakes.woken("IDLE connection lost") == set()


def test_dropped_connections_come_back_and_still_wake(tmp_path):
    server = Dovecot.start()  # our own: the session's Dovecot must stay up for other tests
    try:
        stations = stations_on(server, tmp_path, 5)
        with watching(stations) as (watchers, wakes, outages):
            all_idling(watchers, stations)
            server.pause()
            assert watchers.wait_for(lambda: not watchers.idling, DEADLINE)
            for station in stations:
                wakes.wait("IDLE connection lost", code=station.code)
            server.resume()
            all_idling(watchers, stations, connections=2)
            assert outages.down() == []
            target = stations[3]
            server.append(target.imap.user, complaint(target, "after-restart"))
            wakes.wait("IDLE reports new mail", code=target.code)
    finally:
        server.stop()


def test_stop_logs_every_station_out_at_once(tmp_path, dovecot):
    stations = stations_on(dovecot, tmp_path, 10)
    with watching(stations) as (watchers, _, _):
        all_idling(watchers, stations)
        watchers.stop()
        started = time.monotonic()
        assert watchers.join(5)
        print(f"\nFIGURE idle stop: {len(stations)} connections closed and threads ended in "
              f"{time.monotonic() - started:.2f} s")
    users = {s.imap.user for s in stations}
    deadline = time.monotonic() + DEADLINE
    ended: set[str] = set()
    while ended != users and time.monotonic() < deadline:  # Dovecot's log is another process's
        ended = set(re.findall(r"imap\((st[0-9a-f]+)\)<[^>]*><[^>]*>: Info: (?:Logged out|"
                               r"Disconnected)", dovecot.log_path.read_text()))
        ended &= users
        time.sleep(0.1)  # polling a file written by Dovecot: there is nothing to wait on
    assert ended == users


def test_renewing_idle_keeps_every_connection(tmp_path, dovecot):
    """IDLE ended and begun again (every IDLE_SECONDS in the daemon; 0.3 s here): after three
    rounds each, every station is still on its first connection, and mail still wakes."""
    stations = stations_on(dovecot, tmp_path, 8)
    codes = {s.code for s in stations}
    wakes, outages = Wakes(DEADLINE), Outages()
    watchers = Watchers(wakes, outages, idle_seconds=0.3)
    watchers.start()
    try:
        for station in stations:
            watchers.watch(station)
        assert watchers.wait_for(lambda: all(watchers.renewals.get(c, 0) >= 3 for c in codes),
                                 DEADLINE), watchers.renewals
        all_idling(watchers, stations)
        dovecot.append(stations[0].imap.user, complaint(stations[0], "renew"))
        wakes.wait("IDLE reports new mail", code=stations[0].code)
        assert wakes.woken("IDLE connection lost") == set()
    finally:
        watchers.stop()
        assert watchers.join(10)
