"""The daily digest and the monthly report over a year of a big city's complaints.

    .venv/bin/python bench/digest.py                      # 1,000,000 complaints
    .venv/bin/python bench/digest.py --complaints 100000 --keep /tmp/bench-digest

Builds a synthetic database: complaints spread over 100 stations in six zones and the 12
months before 23 Nov 2026 09:00 IST (busier and quieter stations, more mail by day than by
night; acknowledgement, first officer action and closure times by urgency; some still open,
some waiting on the resident, some never acted on), a `received` and a `closed` event for
each, and a few reopened and transferred ones. Then times `build_digest` for one zone and
`monthly_report` for one month (all stations, and one zone). Each should take at most 2 s.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import sys
import tempfile
import time as timer
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from maildesk.clock import FakeClock, to_iso
from maildesk.config.settings import DEFAULT_SERVICE_LEVELS, Config, Officer, Server, Station, Zone
from maildesk.desk import Desk
from maildesk.reports.digest import build_digest, render_digest
from maildesk.reports.monthly import monthly_report, render_report
from maildesk.store.db import Store

DAY = date(2026, 11, 23)
END = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # 09:00 IST
NOW = END + timedelta(minutes=5)
ZONES = [("KOL-N", "Kolkata North", 18), ("KOL-S", "Kolkata South", 18),
         ("KOL-E", "Kolkata East", 16), ("MUM-Z1", "Mumbai Zone 1", 16),
         ("MUM-Z6", "Mumbai Zone 6", 16), ("MUM-Z9", "Mumbai Zone 9", 16)]
URGENCY = (("urgent", 0.10), ("semi_urgent", 0.30), ("non_urgent", 0.60))
# median hours to first action and to closure, by urgency (log-normal spread)
FIRST_ACTION_H = {"urgent": 0.25, "semi_urgent": 2.0, "non_urgent": 20.0}
CLOSURE_H = {"urgent": 8.0, "semi_urgent": 36.0, "non_urgent": 144.0}
# complaints by local hour of the day (relative)
HOURS = [1, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 9, 9, 9, 9, 9, 8, 7, 6, 4, 3, 2]
SUBJECTS = ["Loud music after midnight", "Chain snatched near the market",
            "मेरे घर में चोरी हो गई", "রাতে জোরে মাইক বাজছে", "Lost my passport"]


def make_config(data_dir: Path) -> Config:
    server = Server("127.0.0.1", 25, "plain", "", "")
    stations, zones, n = [], [], 0
    for code, name, count in ZONES:
        zones.append(Zone(code, name, (f"dcp.{code.lower()}@police.example",)))
        for _ in range(count):
            sc = "P" + chr(65 + n // 26) + chr(65 + n % 26)
            stations.append(Station(
                code=sc, name=f"Station {sc}", zone=code, address=f"{sc.lower()}@police.example",
                language="en", officers=(Officer("SI", f"si.{sc.lower()}@police.example"),),
                imap=server, smtp=server))
            n += 1
    return Config(
        path=data_dir / "stations.yaml", data_dir=data_dir, timezone=ZoneInfo("Asia/Kolkata"),
        message_domain="police.example", admins=("itcell@police.example",),
        stations=tuple(stations), zones=tuple(zones), agencies=(),
        service_levels=dict(DEFAULT_SERVICE_LEVELS), rules=None,  # type: ignore[arg-type]
        digest_time=time(9, 0), max_mail_bytes=25 << 20, sender_hourly_limit=20)


def lognormal_hours(rng: random.Random, median: float, sigma: float = 0.9) -> timedelta:
    return timedelta(hours=median * math.exp(rng.gauss(0, sigma)))


def generate(config: Config, count: int, seed: int) -> tuple[list[tuple], list[tuple]]:
    rng = random.Random(seed)
    stations = list(config.stations)
    weights = [rng.lognormvariate(0, 0.6) for _ in stations]
    by_zone: dict[str, list[Station]] = {}
    for s in stations:
        by_zone.setdefault(s.zone, []).append(s)
    ist = config.timezone
    first_day = (END - timedelta(days=365)).astimezone(ist).date()
    moments = []
    for _ in range(count):
        day = first_day + timedelta(days=rng.randrange(365))
        hour = rng.choices(range(24), HOURS)[0]
        local = datetime.combine(day, time(hour), tzinfo=ist) + timedelta(
            seconds=rng.randrange(3600))
        moment = local.astimezone(UTC)
        if moment < END:
            moments.append(moment)
    moments.sort()
    chosen = rng.choices(stations, weights, k=len(moments))
    counters: Counter[tuple[str, str]] = Counter()
    complaints, events = [], []
    for cid, (created, station) in enumerate(zip(moments, chosen, strict=True), start=1):
        urgency = rng.choices([u for u, _ in URGENCY], [w for _, w in URGENCY])[0]
        roll = rng.random()
        ack = (created + timedelta(seconds=rng.randint(5, 300)) if roll < 0.97 else
               created + timedelta(minutes=rng.randint(61, 240)) if roll < 0.995 else None)
        action = None if rng.random() < 0.01 else created + lognormal_hours(
            rng, FIRST_ACTION_H[urgency])
        stale = rng.random() < 0.005
        closed = None if stale or action is None else max(action, created + lognormal_hours(
            rng, CLOSURE_H[urgency]))
        action = action if action is not None and action <= NOW else None
        closed = closed if closed is not None and closed <= NOW else None
        ack = ack if ack is not None and ack <= NOW else None
        paused_seconds, paused_since = 0, None
        if closed is not None and rng.random() < 0.04:
            paused_seconds = rng.randint(3600, 3 * 86400)
        if closed is not None:
            status = "closed"
        elif action is not None and rng.random() < 0.05:
            status, paused_since = "incomplete_info", to_iso(action)
        else:
            status = "in_process" if action else ("acknowledged" if ack else "received")
        code_station = station.code
        clock_start = created
        if rng.random() < 0.015 and action is not None:  # transferred in from a neighbour
            source = rng.choice([s for s in by_zone[station.zone] if s is not station])
            code_station, clock_start = source.code, action
            events.append((cid, to_iso(action), f"si.{source.code.lower()}@police.example",
                           "transferred", json.dumps({"from": source.code, "to": station.code})))
        period = created.astimezone(ist).strftime("%y%m")
        counters[(code_station, period)] += 1
        code = f"{code_station}-{period}-{counters[(code_station, period)]:04d}"
        iso = to_iso(created)
        complaints.append((
            cid, code, station.code, status, urgency, 0.5, "[]", f"r{cid}@example.net",
            f"Resident {cid}", "en", SUBJECTS[cid % len(SUBJECTS)], iso,
            to_iso(closed or action or ack or created), to_iso(ack) if ack else None,
            to_iso(action) if action else None, to_iso(closed) if closed else None,
            None, to_iso(clock_start), paused_seconds, paused_since))
        events.append((cid, iso, f"r{cid}@example.net", "received", "{}"))
        if closed is not None:
            if rng.random() < 0.02:  # closed once, reopened by the resident, closed again
                events.append((cid, to_iso(created + (closed - created) * 0.6),
                               f"r{cid}@example.net", "reopened", "{}"))
            events.append((cid, to_iso(closed), f"si.{station.code.lower()}@police.example",
                           "closed", '{"note": "done"}'))
    return complaints, events


def load(path: Path, complaints: list[tuple], events: list[tuple]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany(
            "INSERT INTO complaints (id, code, station, status, urgency, score, reasons, "
            "resident_addr, resident_name, language, subject, created_at, updated_at, "
            "acknowledged_at, first_action_at, closed_at, assigned_to, clock_start, "
            "paused_seconds, paused_since) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", complaints)
        events.sort(key=lambda e: e[1])
        conn.executemany("INSERT INTO events (complaint_id, at, actor, action, detail) "
                         "VALUES (?, ?, ?, ?, ?)", events)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def timed(label: str, function, runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = timer.perf_counter()
        result = function()
        times.append(timer.perf_counter() - start)
    print(f"{label:<44} first {times[0]:.3f} s, best {min(times):.3f} s")
    return times[0], result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None,
                        help="Build the database in this directory and keep it.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maildesk-bench-") as tmp:
        data_dir = args.keep or Path(tmp)
        config = make_config(data_dir)
        db = data_dir / "maildesk.db"
        store = Store(data_dir)  # the schema, through the migrations
        empty = store.one("SELECT count(*) AS n FROM complaints") == {"n": 0}
        store.close()
        if empty:
            start = timer.perf_counter()
            complaints, events = generate(config, args.complaints, args.seed)
            generated = timer.perf_counter() - start
            load(db, complaints, events)
            print(f"generated {len(complaints):,} complaints and {len(events):,} events in "
                  f"{generated:.1f} s, loaded in {timer.perf_counter() - start - generated:.1f} s")
        desk = Desk.open(config, FakeClock(NOW))
        counts = desk.store.one(
            "SELECT count(*) AS n, sum(closed_at IS NULL) AS open FROM complaints")
        assert counts is not None
        size = db.stat().st_size + sum(
            p.stat().st_size for p in data_dir.glob("maildesk.db-*") if p.is_file())
        print(f"database: {counts['n']:,} complaints ({counts['open']:,} open), "
              f"{size / 2**20:.0f} MiB")

        zone = "KOL-N"
        stations = [s for s in config.stations if s.zone == zone]
        zone_complaints = desk.store.one(
            f"SELECT count(*) AS n FROM complaints WHERE station IN "
            f"({', '.join('?' for _ in stations)})", tuple(s.code for s in stations))
        print(f"zone {zone}: {len(stations)} stations, {zone_complaints['n']:,} complaints")  # type: ignore[index]
        first, digest = timed(f"build_digest({zone}, {DAY})",
                              lambda: build_digest(desk, zone, DAY))
        render_first, rendered = timed("render_digest (text + HTML)",
                                       lambda: render_digest(desk, digest))  # type: ignore[arg-type]
        _, text, html = rendered  # type: ignore[misc]
        total = digest.total  # type: ignore[attr-defined]
        print(f"  received {total.received}, open {total.open}, overdue {total.overdue}, "
              f"closed {total.closed}; text {len(text.encode()):,} B, "
              f"HTML {len(html.encode()):,} B")

        month = "2026-10"
        report_first, rows = timed(f"monthly_report({month}, all stations)",
                                   lambda: monthly_report(desk, month))
        zone_first, _ = timed(f"monthly_report({month}, {zone})",
                              lambda: monthly_report(desk, month, zone))
        timed("render_report (csv, html, md)",
              lambda: [render_report(rows, f) for f in ("csv", "html", "md")])  # type: ignore[arg-type]
        everything = rows[-1]  # type: ignore[index]
        print(f"  {month}: received {everything['received']:,}, acknowledged within 1 h "
              f"{everything['acknowledged_within_1h_pct']}%, median to first action "
              f"{everything['median_minutes_to_first_action']} min, closed in time "
              f"{everything['closed_within_service_level_pct']}%, reopened "
              f"{everything['reopened']}, transferred {everything['transferred_out']}")
        desk.close()
        slow = [name for name, seconds in (("digest", first + render_first),
                                           ("report", report_first), ("zone report", zone_first))
                if seconds > 2.0]
        if slow:
            print(f"over 2 s: {', '.join(slow)}")
            return 1
        print("all within 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
