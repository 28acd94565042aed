"""The daily digest: every figure against a small dataset computed by hand, sent once per
zone and day (also across a restart), one multipart/alternative mail with escaped HTML, the
CLI, and what the HTML looks like in a real browser (headless Chromium)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from deskenv import figures_config
from needs import missing

from maildesk.cli import main
from maildesk.clock import FakeClock, to_iso
from maildesk.config.settings import (
    Config,
)
from maildesk.desk import Desk
from maildesk.reports.digest import (
    build_digest,
    duration_text,
    latest_day,
    queue_digest,
    render_digest,
)

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
DAY = date(2026, 11, 23)
E = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # 09:00 IST on DAY: the end of its period
NOW = E + timedelta(minutes=30)
H, M, D = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
BHL_NAME = "Behala <b>Police</b> Station"


def make_config(directory: Path) -> Config:
    return figures_config(directory, BHL_NAME)


def add(desk: Desk, code: str, urgency: str, created: timedelta, *, ack: timedelta | None = None,
        action: timedelta | None = None, closed: timedelta | None = None,
        status: str | None = None, paused_since: timedelta | None = None,
        station: str | None = None, clock_start: timedelta | None = None) -> None:
    """A complaint created at E + created; ack, action, closed and clock_start are after its
    creation, paused_since after E."""
    at = E + created

    def later(delta: timedelta | None) -> str | None:
        return None if delta is None else to_iso(at + delta)

    desk.store.add_complaint(
        code=code, station=station or code.split("-")[0], urgency=urgency,
        status=status or ("closed" if closed is not None else "in_process"),
        resident_addr=f"resident.{code.lower()}@example.net", resident_name="Rina Dutta",
        subject="Chain snatched near the market", language="en", created_at=to_iso(at),
        acknowledged_at=later(ack), first_action_at=later(action), closed_at=later(closed),
        paused_since=None if paused_since is None else to_iso(E + paused_since),
        clock_start=later(clock_start) or to_iso(at),
    )


def fill(desk: Desk) -> None:
    """The period of DAY is [E-24h, E); the day before's is [E-48h, E-24h)."""
    with desk.store.transaction():
        # BHL, received in the period
        add(desk, "BHL-2611-0001", "urgent", -2 * H, ack=5 * M, action=20 * M, closed=90 * M)
        add(desk, "BHL-2611-0002", "semi_urgent", -10 * H, ack=2 * H)  # no action after 6 h
        add(desk, "BHL-2611-0003", "non_urgent", -20 * H, ack=30 * M, action=H)
        add(desk, "BHL-2611-0007", "semi_urgent", -H)  # not acknowledged yet
        add(desk, "BHL-2611-0010", "non_urgent", -24 * H, ack=60 * M, action=2 * H,
            closed=12 * H)  # on the period's first second; acknowledged in exactly 1 h
        # BHL, older
        add(desk, "BHL-2611-0004", "urgent", -3 * D, ack=2 * M, action=10 * M)  # > 1 d open
        add(desk, "BHL-2611-0005", "non_urgent", -20 * D, ack=M, action=H,
            status="incomplete_info", paused_since=-17 * D)  # waits on the resident
        add(desk, "BHL-2611-0006", "non_urgent", -30 * H, ack=M, action=H, closed=5 * H)
        add(desk, "BHL-2611-0008", "urgent", -40 * H, ack=M, action=39 * H, closed=39 * H)
        add(desk, "BHL-2611-0009", "non_urgent", timedelta(0))  # the next period's first
        # LKT
        add(desk, "LKT-2611-0001", "non_urgent", -5 * H, ack=10 * M)
        add(desk, "LKT-2611-0002", "urgent", -50 * H, ack=M)  # nothing done for 50 h
        add(desk, "BHL-2611-0011", "semi_urgent", -8 * H, ack=5 * M, station="LKT",
            clock_start=7 * H)  # transferred to LKT an hour ago: its 6 h run from then
        # another zone
        add(desk, "AND-2611-0001", "urgent", -H)


@pytest.fixture
def desk(tmp_path: Path):
    desk = Desk.open(make_config(tmp_path), FakeClock(NOW))
    fill(desk)
    yield desk
    desk.close()


def test_every_figure_of_the_digest(desk: Desk) -> None:
    digest = build_digest(desk, "KOL-NE", DAY)
    assert (digest.start, digest.end, digest.as_of) == (E - 24 * H, E, E)
    bhl, lkt = digest.stations
    assert (bhl.code, bhl.name, lkt.code) == ("BHL", BHL_NAME, "LKT")

    assert bhl.received == 5  # 0001, 0002, 0003, 0007, 0010 (not 0009, created at E)
    assert bhl.acknowledged_in_hour == 3 and bhl.acknowledged_in_hour_pct == 60
    assert bhl.median_acknowledge == 45 * M  # 5, 30, 60, 120 min
    assert bhl.median_first_action == H  # 20 min, 1 h, 2 h
    assert bhl.open_by_urgency == {"urgent": 1, "semi_urgent": 2, "non_urgent": 2}
    assert bhl.open == 5
    assert bhl.overdue == 2  # 0002 (no action), 0004 (not closed); 0005 waits
    assert bhl.closed == 3  # 0001, 0008, 0010
    assert bhl.oldest_open == 20 * D

    assert lkt.received == 2 and lkt.acknowledged_in_hour == 2  # LKT-0001, BHL-0011
    assert lkt.acknowledged_in_hour_pct == 100
    assert lkt.median_acknowledge == 7.5 * M and lkt.median_first_action is None
    assert lkt.open_by_urgency == {"urgent": 1, "semi_urgent": 1, "non_urgent": 1}
    assert (lkt.overdue, lkt.closed, lkt.oldest_open) == (1, 0, 50 * H)  # not BHL-0011

    total = digest.total
    assert (total.received, total.open, total.overdue, total.closed) == (7, 8, 3, 3)
    assert total.acknowledged_in_hour == 5 and total.acknowledged_in_hour_pct == 71
    assert total.median_acknowledge == 20 * M  # 5, 5, 10, 30, 60, 120 min
    assert total.median_first_action == H
    assert total.oldest_open == 20 * D

    assert [(o.code, o.station, o.urgency, o.age, o.late) for o in digest.overdue] == [
        ("BHL-2611-0004", "BHL", "urgent", 3 * D, ("not closed",)),
        ("LKT-2611-0002", "LKT", "urgent", 50 * H, ("no officer action", "not closed")),
        ("BHL-2611-0002", "BHL", "semi_urgent", 10 * H, ("no officer action",)),
    ]

    # The day before: [E-48h, E-24h), as of E-24h
    before = digest.previous
    assert (before["BHL"].received, before["BHL"].open, before["BHL"].overdue,
            before["BHL"].closed) == (2, 3, 2, 1)  # open: 0004, 0005, 0008; overdue 0004, 0008
    assert (before["LKT"].received, before["LKT"].open, before["LKT"].overdue,
            before["LKT"].closed) == (0, 1, 1, 0)
    assert [(c.label, c.yesterday, c.today, c.delta) for c in digest.changes] == [
        ("Received", 2, 7, 5), ("Open", 4, 8, 4), ("Overdue", 3, 3, 0), ("Closed", 1, 3, 2)]


def test_the_rendered_digest_shows_the_figures(desk: Desk) -> None:
    subject, text, html = render_digest(desk, build_digest(desk, "KOL-NE", DAY))
    assert subject == ("[maildesk] Daily digest Kolkata North and East, Mon 23 Nov 2026: "
                       "7 received, 8 open, 3 overdue")
    assert "22 Nov 2026, 09:00 IST to 23 Nov 2026, 09:00 IST" in text
    assert ("  Received                        2        7       +5\n"
            "  Open                            4        8       +4\n"
            "  Overdue                         3        3       ±0\n"
            "  Closed                          1        3       +2\n") in text
    assert (f"BHL  {BHL_NAME}\n"
            "  received 5, closed 3, overdue 2 (±0 since yesterday)\n"
            "  open 5 (+2 since yesterday): urgent 1, semi-urgent 2, non-urgent 2\n"
            "  oldest open 20 d; acknowledged within 1 h: 60%\n"
            "  median time to acknowledge 45 min, to first action 1 h\n") in text
    assert ("LKT  Lake Town Police Station\n"
            "  received 2, closed 0, overdue 1 (±0 since yesterday)\n"
            "  open 3 (+2 since yesterday): urgent 1, semi-urgent 1, non-urgent 1\n"
            "  oldest open 2 d 2 h; acknowledged within 1 h: 100%\n"
            "  median time to acknowledge 7 min, to first action –\n") in text
    assert ("  Acknowledged within 1 h: 71% of those received\n"
            "  Median time to acknowledge: 20 min; to first officer action: 1 h\n"
            "  Oldest open complaint: 20 d\n") in text
    assert "  BHL-2611-0004    urgent       3 d        not closed\n" in text
    assert "  LKT-2611-0002    urgent       2 d 2 h    no officer action; not closed\n" in text
    assert "  BHL-2611-0002    semi-urgent  10 h       no officer action\n" in text
    assert "AND-2611" not in text and "AND-2611" not in html  # another zone's
    for personal in ("Rina", "resident."):  # the subject is the overdue row's summary
        assert personal not in text and personal not in html
    assert "      Chain snatched near the market\n" in text


def test_station_names_are_escaped_in_the_html(desk: Desk) -> None:
    _, text, html = render_digest(desk, build_digest(desk, "KOL-NE", DAY))
    assert "Behala &lt;b&gt;Police&lt;/b&gt; Station" in html
    assert "<b>Police</b>" not in html
    assert BHL_NAME in text  # plain text stays as written
    for forbidden in ("<script", "<link", "<img", "<style", "url(", "http://", "https://"):
        assert forbidden not in html.lower()


def test_a_period_not_yet_over_is_marked_incomplete(tmp_path: Path) -> None:
    desk = Desk.open(make_config(tmp_path), FakeClock(E - 30 * M))
    fill(desk)
    with pytest.raises(ValueError, match="the digest of 2026-11-23 is due at 23 Nov 2026, 09:00"):
        queue_digest(desk, "KOL-NE", DAY)  # it goes once: only when complete
    digest = build_digest(desk, "KOL-NE", DAY)
    assert digest.as_of == E - 30 * M
    assert digest.stations[0].closed == 3  # 0001 closed at E-30m: by as_of, just
    assert latest_day(desk) == DAY - timedelta(days=1)
    _, text, _ = render_digest(desk, digest)
    assert "Incomplete: the period has not ended; figures as of 23 Nov 2026, 08:30 IST" in text
    desk.close()


def test_waiting_on_the_resident_counts_from_when_it_began(tmp_path: Path) -> None:
    desk = Desk.open(make_config(tmp_path), FakeClock(NOW))
    add(desk, "BHL-2611-0001", "urgent", -2 * H, ack=M, status="incomplete_info",
        paused_since=10 * M)  # asked the resident 10 minutes after the digest time
    first = build_digest(desk, "KOL-NE", DAY)
    assert first.total.overdue == 1 and first.overdue[0].late == ("no officer action",)
    later = build_digest(desk, "KOL-NE", DAY + timedelta(days=1))  # as of now: waiting
    assert later.as_of == NOW and later.total.overdue == 0 and later.total.open == 1
    desk.close()


def test_durations_read_well() -> None:
    assert [duration_text(d) for d in (None, timedelta(0), 30 * timedelta(seconds=1), 45 * M,
                                       3 * H, 3 * H + 20 * M, 2 * D, 2 * D + 4 * H + 59 * M)] == [
        "–", "0 min", "<1 min", "45 min", "3 h", "3 h 20 min", "2 d", "2 d 4 h"]


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_queued_once_per_zone_and_day_even_after_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    desk = Desk.open(config, FakeClock(NOW))
    fill(desk)
    assert queue_digest(desk, "KOL-NE", DAY) is True
    assert queue_digest(desk, "KOL-NE", DAY) is False
    desk.close()

    desk = Desk.open(config, FakeClock(NOW + D))  # the program started again, a day later
    assert queue_digest(desk, "KOL-NE", DAY) is False
    assert queue_digest(desk, "MUM-Z6", DAY) is True  # another zone
    assert queue_digest(desk, "KOL-NE", DAY + timedelta(days=1)) is True  # the next day
    rows = desk.store.outbox("kind = 'digest'")
    assert [(r["station"], r["rcpt_to"], r["mail_from"]) for r in rows] == [
        ("BHL", ["dcp.ne@maildesk.test"], "bhl.ps@maildesk.test"),
        ("AND", ["dcp.z6@maildesk.test"], "and.ps@maildesk.test"),
        ("BHL", ["dcp.ne@maildesk.test"], "bhl.ps@maildesk.test"),
    ]
    recorded = desk.store.query("SELECT zone, day, sent_at, outbox_id FROM digests ORDER BY rowid")
    assert recorded == [
        {"zone": "KOL-NE", "day": "2026-11-23", "sent_at": to_iso(NOW), "outbox_id": rows[0]["id"]},
        {"zone": "MUM-Z6", "day": "2026-11-23", "sent_at": to_iso(NOW + D),
         "outbox_id": rows[1]["id"]},
        {"zone": "KOL-NE", "day": "2026-11-24", "sent_at": to_iso(NOW + D),
         "outbox_id": rows[2]["id"]},
    ]
    desk.close()


def test_the_mail_has_a_text_and_an_html_part(desk: Desk) -> None:
    assert queue_digest(desk, "KOL-NE", DAY)
    (row,) = desk.store.outbox("kind = 'digest'")
    mail = _parse(row["raw"])
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["To"] == "dcp.ne@maildesk.test"
    assert mail["From"].addresses[0].addr_spec == "bhl.ps@maildesk.test"
    assert mail["Reply-To"] == "itcell@maildesk.test"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Maildesk-Zone"] == "KOL-NE"
    assert mail["Message-ID"] == f"<{row['message_id']}>"
    assert mail["Subject"].startswith("[maildesk] Daily digest Kolkata North and East")
    assert mail["MIME-Version"] == "1.0"
    plain, html = mail.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    _, text, page = render_digest(desk, build_digest(desk, "KOL-NE", DAY))
    assert plain.get_content().replace("\r\n", "\n") == text
    assert html.get_content().replace("\r\n", "\n") == page
    assert all(len(line) <= 998 for line in row["raw"].split(b"\r\n"))


def test_an_undeliverable_dcp_gets_nothing(desk: Desk) -> None:
    desk.store.mark_undeliverable("dcp.ne@maildesk.test", "550 no such user")
    assert queue_digest(desk, "KOL-NE", DAY) is False
    assert desk.store.outbox("kind = 'digest'") == []
    assert desk.store.query("SELECT * FROM digests") == []


def test_unknown_zone(desk: Desk) -> None:
    with pytest.raises(KeyError):
        build_digest(desk, "NOPE", DAY)


# -- the command line -----------------------------------------------------------------------------


def write_yaml(directory: Path, smtp: tuple[str, int]) -> Path:
    shutil.copy(REPO / "config" / "rules.yaml", directory / "rules.yaml")
    server = {"host": smtp[0], "port": smtp[1], "security": "plain"}
    data = {
        "maildesk": {"data_dir": str(directory / "data"), "message_domain": "maildesk.test",
                     "admins": ["itcell@maildesk.test"], "digest_time": "09:00"},
        "defaults": {"imap": server, "smtp": server, "require_authentication": False},
        "zones": [{"code": z.code, "name": z.name, "dcp": list(z.dcp)}
                  for z in make_config(directory).zones],
        "stations": [{"code": s.code, "name": s.name, "zone": s.zone, "address": s.address,
                      "officers": [{"name": "SI Roy", "address": s.officers[0].address}]}
                     for s in make_config(directory).stations],
    }
    path = directory / "stations.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def test_cli_prints_and_sends_the_digest(tmp_path: Path, smtp) -> None:
    path = write_yaml(tmp_path, (smtp.host, smtp.port))
    desk = Desk.open(make_config(tmp_path), FakeClock(NOW))
    fill(desk)
    desk.close()
    runner = CliRunner()
    clock = {"clock": FakeClock(NOW)}  # "today" is the test's, not the machine's
    page = tmp_path / "digest.html"
    result = runner.invoke(main, ["--config", str(path), "digest", "--zone", "KOL-NE",
                                  "--date", "2026-11-23", "--print", "--html", str(page)],
                           obj=clock)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Daily digest: Kolkata North and East (KOL-NE)\n")
    assert "Behala &lt;b&gt;Police&lt;/b&gt; Station" in page.read_text(encoding="utf-8")

    send = ["--config", str(path), "digest", "--zone", "KOL-NE", "--date", "2026-11-23",
            "--send"]
    result = runner.invoke(main, send, obj=clock)
    assert result.exit_code == 0, result.output
    assert "digest KOL-NE 2026-11-23: queued" in result.output
    assert "outbox: 1 sent, 0 to retry, 0 failed" in result.output
    (received,) = smtp.messages
    assert received.rcpt_tos == ["dcp.ne@maildesk.test"]
    assert _parse(received.data).get_content_type() == "multipart/alternative"

    result = runner.invoke(main, send, obj=clock)
    assert "already queued before" in result.output and len(smtp.messages) == 1

    result = runner.invoke(main, [*send[:-2], "2026-11-24", "--send"], obj=clock)
    assert result.exit_code != 0 and "is due at 24 Nov 2026, 09:00 IST" in result.output

    for wrong, message in ((["--zone", "KOL-NE", "--print", "--send"], "one of --print"),
                           (["--zone", "KOL-NE"], "one of --print"),
                           (["--zone", "XX", "--print"], "no zone 'XX'")):
        result = runner.invoke(main, ["--config", str(path), "digest", *wrong], obj=clock)
        assert result.exit_code != 0 and message in result.output


# -- what a DCP sees: the HTML in a real browser ------------------------------------------------


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, chunk = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        offset = y * (stride + 1)
        kind, line = raw[offset], bytearray(raw[offset + 1:offset + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(
            v for j in range(0, stride, 4) for v in line[j:j + 3]))
        prev = line
    return width, height, rows


def test_the_html_digest_renders_in_chromium(desk: Desk, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if chromium is None:
        missing("chromium is not installed: apt-get install chromium (scripts/test does)")
    _, _, html = render_digest(desk, build_digest(desk, "KOL-NE", DAY))
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "digest.png"
    png.unlink(missing_ok=True)
    (ARTIFACTS / "digest.html").write_text(html, encoding="utf-8")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         "--window-size=900,1400", page.as_uri()],
        check=True, capture_output=True, timeout=90,
    )
    data = png.read_bytes()
    assert len(data) > 20_000, len(data)
    width, height, rows = _png_pixels(data)
    assert (width, height) == (900, 1400)
    colours = {row[i:i + 3] for row in rows[::7] for i in range(0, len(row), 21)}
    assert len(colours) > 20  # text, bars and backgrounds, not a blank page
    header = bytes((0x1D, 0x35, 0x57))  # the dark blue header band
    assert sum(row.count(header) for row in rows[:200]) > 1000
    urgent = bytes((0xC6, 0x28, 0x28))  # the urgent bar and overdue figures
    assert any(urgent in row for row in rows)


def test_the_queued_mail_holds_no_resident_data(desk: Desk) -> None:
    queue_digest(desk, "KOL-NE", DAY)
    (row,) = desk.store.outbox("kind = 'digest'")
    raw = row["raw"].decode("ascii", "replace")
    assert "example.net" not in raw and json.dumps(row["rcpt_to"]) == '["dcp.ne@maildesk.test"]'
