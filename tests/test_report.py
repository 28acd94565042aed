"""The monthly transparency report: every figure against a small dataset computed by hand,
the three formats, no personal data, and the CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from deskenv import figures_config

from maildesk.cli import main
from maildesk.clock import FakeClock, to_iso
from maildesk.config.settings import Config
from maildesk.desk import Desk
from maildesk.reports.monthly import COLUMNS, month_bounds, monthly_report, render_report

REPO = Path(__file__).resolve().parent.parent
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
# October 2026 in IST: [30 Sep 18:30 UTC, 31 Oct 18:30 UTC)
OCT_START = datetime(2026, 9, 30, 18, 30, tzinfo=UTC)
NAMES = ("Rina Dutta", "Sourav Ganguly")
SUBJECT = "Chain snatched near Behala Chowrasta"
TEXT = "My gold chain was snatched by two men on a motorcycle."


def make_config(directory: Path) -> Config:
    return figures_config(directory)


def add(desk: Desk, code: str, station: str, urgency: str, created: datetime, *,
        ack: timedelta | None = None, action: timedelta | None = None,
        closed: timedelta | None = None, clock_start: timedelta | None = None,
        paused_seconds: int = 0) -> int:
    def later(delta: timedelta | None) -> str | None:
        return None if delta is None else to_iso(created + delta)

    complaint_id = desk.store.add_complaint(
        code=code, station=station, urgency=urgency,
        status="closed" if closed is not None else "in_process",
        resident_addr=f"resident.{code.lower()}@example.net", resident_name=NAMES[len(code) % 2],
        subject=SUBJECT, language="en", created_at=to_iso(created),
        acknowledged_at=later(ack), first_action_at=later(action), closed_at=later(closed),
        clock_start=later(clock_start) or to_iso(created), paused_seconds=paused_seconds,
    )
    desk.store.add_message(station=station, dedupe_key=code, sha256="0" * 64, size=100,
                           from_addr=f"resident.{code.lower()}@example.net",
                           from_name=NAMES[0], subject=SUBJECT, text=TEXT, kind="complaint",
                           complaint_id=complaint_id, received_at=to_iso(created))
    return complaint_id


def event(desk: Desk, complaint_id: int, at: datetime, action: str, detail: dict) -> None:
    desk.store.db.execute(
        "INSERT INTO events (complaint_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        (complaint_id, to_iso(at), "resident.x@example.net", action, json.dumps(detail)))


def oct_(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


def fill(desk: Desk) -> None:
    with desk.store.transaction():
        # BHL
        r1 = add(desk, "BHL-2610-0001", "BHL", "urgent", OCT_START, ack=30 * M, action=20 * M,
                 closed=20 * H)  # the month's first second; closed within 1 d
        add(desk, "BHL-2610-0002", "BHL", "urgent", oct_(5), ack=90 * M, action=2 * H,
            closed=30 * H)  # closed after the 1 d deadline
        add(desk, "BHL-2610-0003", "BHL", "semi_urgent", oct_(10), ack=60 * M, action=4 * H,
            closed=2 * D)
        r4 = add(desk, "BHL-2610-0004", "BHL", "non_urgent", oct_(20), ack=5 * M)  # open
        add(desk, "BHL-2610-0005", "BHL", "non_urgent", oct_(25), ack=15 * M, action=D,
            closed=16 * D, paused_seconds=2 * 86400)  # 16 d, of which 2 d waiting: in time
        add(desk, "BHL-2609-0099", "BHL", "urgent", OCT_START - timedelta(seconds=1),
            ack=M, action=M, closed=H)  # September
        event(desk, r4, oct_(28), "reopened", {})
        event(desk, r1, datetime(2026, 11, 2, tzinfo=UTC), "reopened", {})  # November
        # transferred from BHL to LKT: counts at LKT, its clock restarted at the transfer
        r6 = add(desk, "BHL-2610-0006", "LKT", "semi_urgent", oct_(15), ack=10 * M,
                 action=3 * H, closed=D, clock_start=2 * H)  # LKT acted 1 h after
        event(desk, r6, oct_(15, 12), "transferred", {"from": "BHL", "to": "LKT"})
        # LKT
        add(desk, "LKT-2610-0001", "LKT", "urgent", datetime(2026, 10, 31, 18, 0, tzinfo=UTC))
        add(desk, "LKT-2611-0001", "LKT", "urgent", OCT_START + timedelta(days=31),
            ack=M)  # 1 Nov 00:00 IST: November
        # AND, another zone
        add(desk, "AND-2610-0001", "AND", "non_urgent", oct_(3), ack=2 * M, action=3 * H,
            closed=3 * D)


@pytest.fixture
def desk(tmp_path: Path):
    desk = Desk.open(make_config(tmp_path), FakeClock(datetime(2026, 11, 20, tzinfo=UTC)))
    fill(desk)
    yield desk
    desk.close()


def expected(station: str, name: str, zone: str, *values: object) -> dict:
    keys = [k for k in COLUMNS if k not in ("month", "zone", "station", "station_name")]
    return {"month": "2026-10", "zone": zone, "station": station, "station_name": name,
            **dict(zip(keys, values, strict=True))}


BHL = expected("BHL", "Behala Police Station", "KOL-NE",
               5, 2, 1, 2,  # received: urgent, semi-urgent, non-urgent
               4, 80.0,  # acknowledged within 1 h (90 min is late; 60 min is not)
               30.0,  # median of 5, 15, 30, 60, 90 min
               180.0,  # median of 20 min, 2 h, 4 h, 1 d
               39.0,  # median of 20 h, 30 h, 48 h, 384 h
               4, 3, 60.0,  # closed; in time (not the 30 h urgent one); of 5 received
               1, 1)  # reopened in October; transferred to LKT
LKT = expected("LKT", "Lake Town Police Station", "KOL-NE",
               2, 1, 1, 0, 1, 50.0, 10.0, 60.0, 24.0, 1, 1, 50.0, 0, 0)
AND = expected("AND", "Andheri Police Station", "MUM-Z6",
               1, 0, 0, 1, 1, 100.0, 2.0, 180.0, 72.0, 1, 1, 100.0, 0, 0)


def test_every_figure_for_all_stations(desk: Desk) -> None:
    rows = monthly_report(desk, "2026-10")
    assert rows == [BHL, LKT, AND, expected(
        "ALL", "All stations", "ALL",
        8, 3, 2, 3, 6, 75.0,
        15.0,  # 2, 5, 10, 15, 30, 60, 90 min
        150.0,  # 20, 60, 120, 180, 240, 1440 min
        39.0,  # 20, 24, 30, 48, 72, 384 h
        6, 5, 62.5, 1, 1)]


def test_every_figure_for_one_zone(desk: Desk) -> None:
    rows = monthly_report(desk, "2026-10", "KOL-NE")
    assert rows == [BHL, LKT, expected(
        "ALL", "Kolkata North and East", "KOL-NE",
        7, 3, 2, 2, 5, 71.4,
        22.5,  # 5, 10, 15, 30, 60, 90 min
        120.0,  # 20, 60, 120, 240, 1440 min
        30.0,  # 20, 24, 30, 48, 384 h
        5, 4, 57.1, 1, 1)]
    assert monthly_report(desk, "2026-10", "MUM-Z6")[0] == AND


def test_a_month_without_complaints(desk: Desk) -> None:
    rows = monthly_report(desk, "2026-08", "MUM-Z6")
    assert rows[0] == expected("AND", "Andheri Police Station", "MUM-Z6",
                               0, 0, 0, 0, 0, None, None, None, None, 0, 0, None, 0, 0
                               ) | {"month": "2026-08"}
    assert render_report(rows, "md").count("| – |") >= 1


def test_month_bounds_are_local_time(desk: Desk) -> None:
    assert month_bounds(desk, "2026-10") == (
        datetime(2026, 10, 1, tzinfo=ZoneInfo("Asia/Kolkata")),
        datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert month_bounds(desk, "2026-12")[1] == datetime(2027, 1, 1,
                                                        tzinfo=ZoneInfo("Asia/Kolkata"))
    with pytest.raises(ValueError):
        month_bounds(desk, "2026-13")
    with pytest.raises(KeyError):
        monthly_report(desk, "2026-10", "NOPE")


def test_csv(desk: Desk) -> None:
    text = render_report(monthly_report(desk, "2026-10"), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["station"] for r in rows] == ["BHL", "LKT", "AND", "ALL"]
    assert rows[0]["received"] == "5" and rows[0]["median_hours_to_closure"] == "39.0"
    assert rows[1]["urgent"] == "1" and rows[1]["transferred_out"] == "0"
    empty = list(csv.DictReader(io.StringIO(render_report(
        monthly_report(desk, "2026-08", "MUM-Z6"), "csv"))))
    assert empty[0]["median_minutes_to_acknowledge"] == ""


def test_markdown(desk: Desk) -> None:
    text = render_report(monthly_report(desk, "2026-10", "KOL-NE"), "md")
    lines = text.splitlines()
    assert lines[0] == "# Complaints received in 2026-10"
    assert lines[2].startswith("| Station | Name | Received | Urgent |")
    assert lines[3].startswith("|:---|:---|---:|")
    assert lines[4] == ("| BHL | Behala Police Station | 5 | 2 | 1 | 2 | 4 | 80.0 | 30.0 | "
                        "180.0 | 39.0 | 4 | 3 | 60.0 | 1 | 1 |")
    assert lines[6].startswith("| ALL | Kolkata North and East | 7 |")
    assert len(lines) == 7


def test_html_is_escaped(desk: Desk, tmp_path: Path) -> None:
    rows = monthly_report(desk, "2026-10")
    rows[0]["station_name"] = "Behala <b>PS</b> & Co"
    page = render_report(rows, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "Behala &lt;b&gt;PS&lt;/b&gt; &amp; Co" in page and "<b>PS" not in page
    assert "<td" in page and page.count("<tr>") == 5


def test_no_personal_data_in_any_format(desk: Desk) -> None:
    rows = monthly_report(desk, "2026-10")
    for fmt in ("csv", "html", "md"):
        text = render_report(rows, fmt)
        for personal in (*NAMES, "example.net", "resident.", SUBJECT, "Chain", TEXT[:20],
                         "2610-0001", "si.bhl"):
            assert personal not in text, (fmt, personal)
    for row in rows:
        assert set(row) == set(COLUMNS)


def test_unknown_format(desk: Desk) -> None:
    with pytest.raises(ValueError):
        render_report(monthly_report(desk, "2026-10"), "pdf")


def test_cli(tmp_path: Path) -> None:
    shutil.copy(REPO / "config" / "rules.yaml", tmp_path / "rules.yaml")
    config = make_config(tmp_path)
    server = {"host": "127.0.0.1", "port": 2525, "security": "plain"}
    (tmp_path / "stations.yaml").write_text(yaml.safe_dump({
        "maildesk": {"data_dir": str(tmp_path / "data"), "message_domain": "maildesk.test"},
        "defaults": {"imap": server, "smtp": server, "require_authentication": False},
        "zones": [{"code": z.code, "name": z.name, "dcp": list(z.dcp)} for z in config.zones],
        "stations": [{"code": s.code, "name": s.name, "zone": s.zone, "address": s.address}
                     for s in config.stations],
    }))
    desk = Desk.open(config, FakeClock())
    fill(desk)
    desk.close()
    runner = CliRunner()
    base = ["--config", str(tmp_path / "stations.yaml"), "report", "--month", "2026-10"]
    result = runner.invoke(main, [*base, "--zone", "KOL-NE", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert [r["station"] for r in csv.DictReader(io.StringIO(result.output))] == [
        "BHL", "LKT", "ALL"]
    result = runner.invoke(main, [*base, "--format", "md"])
    assert result.exit_code == 0 and "| AND | Andheri Police Station | 1 |" in result.output
    result = runner.invoke(main, [*base, "--format", "html", "--zone", "XX"])
    assert result.exit_code != 0 and "no zone 'XX'" in result.output
    result = runner.invoke(main, [*base[:-1], "October", "--format", "md"])
    assert result.exit_code != 0 and "expected a month like" in result.output
