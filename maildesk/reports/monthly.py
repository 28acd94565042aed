"""The monthly transparency report: per station, how many complaints came in and how fast
they were handled. Counts and times only: no names, addresses, subjects or texts.

What the figures mean (the month is a calendar month in the configured time zone):

* received, urgent, semi_urgent, non_urgent: complaints created in the month, counted at
  the station that holds them now (a transferred complaint counts at its new station);
* acknowledged_within_1h (and _pct, of received): acknowledgement sent within an hour;
* median_minutes_to_acknowledge, median_hours_to_closure: from the resident's mail;
  median_minutes_to_first_action: from the start of the station's clock (the mail, or the
  transfer or reopening that gave the complaint to the station again); each over those of
  the month's complaints that got there;
* closed, closed_within_service_level (and _pct, of received): closed by now; closed before
  the closure deadline of their urgency (clock_start + service level + time spent waiting on
  the resident). Complaints still open count as not closed in time;
* reopened: complaints a resident reopened during the month (by their current station);
* transferred_out: complaints the station transferred to another during the month.
"""

from __future__ import annotations

import csv
import html
import io
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from maildesk.clock import to_iso
from maildesk.config.settings import URGENCIES
from maildesk.desk import Desk
from maildesk.store import figures

ACKNOWLEDGE_WITHIN = timedelta(hours=1)
ACKNOWLEDGE_SECONDS = ACKNOWLEDGE_WITHIN.total_seconds()
COLUMNS = {  # key: heading in HTML and Markdown
    "month": "Month", "zone": "Zone", "station": "Station", "station_name": "Name",
    "received": "Received", "urgent": "Urgent", "semi_urgent": "Semi-urgent",
    "non_urgent": "Non-urgent", "acknowledged_within_1h": "Ack. within 1 h",
    "acknowledged_within_1h_pct": "Ack. within 1 h %",
    "median_minutes_to_acknowledge": "Median min to ack.",
    "median_minutes_to_first_action": "Median min to first action",
    "median_hours_to_closure": "Median h to closure", "closed": "Closed",
    "closed_within_service_level": "Closed in time",
    "closed_within_service_level_pct": "Closed in time %", "reopened": "Reopened",
    "transferred_out": "Transferred out",
}
TEXT_COLUMNS = ("month", "zone", "station", "station_name")
PROGRESS_EVERY = 10_000  # complaints tallied between two progress reports


def month_bounds(desk: Desk, month: str) -> tuple[datetime, datetime]:
    """[start, end) of a 'YYYY-MM' month in the configured time zone. ValueError if bad."""
    try:
        first = datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise ValueError(f"expected a month like 2026-11, got {month!r}") from None
    tz = desk.config.timezone
    start = first.replace(tzinfo=tz)
    following = first.replace(year=first.year + first.month // 12,
                              month=first.month % 12 + 1, tzinfo=tz)
    return start, following


def _median(values: list[int], unit: int) -> float | None:
    return round(statistics.median(values) / unit, 1) if values else None


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass
class _Tally:
    """The raw values behind one row: counts, and the times for the medians (seconds)."""

    by_urgency: dict[str, int] = field(default_factory=lambda: dict.fromkeys(URGENCIES, 0))
    to_ack: list[int] = field(default_factory=list)
    to_action: list[int] = field(default_factory=list)
    to_closure: list[int] = field(default_factory=list)
    in_hour: int = 0
    in_time: int = 0
    reopened: int = 0
    transferred: int = 0

    def add(self, c: dict, closure_limits: dict[str, float]) -> None:
        self.by_urgency[c["urgency"]] = self.by_urgency.get(c["urgency"], 0) + 1
        if c["to_acknowledge"] is not None:
            self.to_ack.append(c["to_acknowledge"])
            self.in_hour += c["to_acknowledge"] <= ACKNOWLEDGE_SECONDS
        if c["to_first_action"] is not None:
            self.to_action.append(c["to_first_action"])
        if c["to_closure"] is not None:
            self.to_closure.append(c["to_closure"])
            self.in_time += c["clock_at_closure"] <= closure_limits.get(c["urgency"], -1)

    def merge(self, other: _Tally) -> None:
        for urgency, count in other.by_urgency.items():
            self.by_urgency[urgency] = self.by_urgency.get(urgency, 0) + count
        self.to_ack += other.to_ack
        self.to_action += other.to_action
        self.to_closure += other.to_closure
        self.in_hour += other.in_hour
        self.in_time += other.in_time
        self.reopened += other.reopened
        self.transferred += other.transferred

    def row(self, month: str, zone: str, station: str, name: str) -> dict[str, Any]:
        received = sum(self.by_urgency.values())
        return {
            "month": month, "zone": zone, "station": station, "station_name": name,
            "received": received, **{u: self.by_urgency.get(u, 0) for u in URGENCIES},
            "acknowledged_within_1h": self.in_hour,
            "acknowledged_within_1h_pct": _pct(self.in_hour, received),
            "median_minutes_to_acknowledge": _median(self.to_ack, 60),
            "median_minutes_to_first_action": _median(self.to_action, 60),
            "median_hours_to_closure": _median(self.to_closure, 3600),
            "closed": len(self.to_closure), "closed_within_service_level": self.in_time,
            "closed_within_service_level_pct": _pct(self.in_time, received),
            "reopened": self.reopened, "transferred_out": self.transferred,
        }


def monthly_report(desk: Desk, month: str, zone: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """One row per station (of the zone, or all stations in configuration order), then a
    row for them all (station "ALL"). Raises ValueError for a bad month, KeyError for an
    unknown zone. `progress(done, total)` is told of the complaints tallied, now and then."""
    name = desk.config.zone(zone).name if zone is not None else "All stations"
    start, end = (to_iso(m) for m in month_bounds(desk, month))
    stations = [s for s in desk.config.stations if zone is None or s.zone == zone]
    tallies = {s.code: _Tally() for s in stations}
    limits = {u: level.closure.total_seconds() for u, level in desk.config.service_levels.items()}
    complaints = figures.month_complaints(desk.store, start, end,
                                          None if zone is None else list(tallies))
    for done, c in enumerate(complaints, 1):
        tally = tallies.get(c["station"])
        if tally is not None:  # not a station that is no longer configured
            tally.add(c, limits)
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == len(complaints)):
            progress(done, len(complaints))
    for code, n in figures.reopened_between(desk.store, start, end).items():
        if code in tallies:
            tallies[code].reopened = n
    for code, n in figures.transferred_between(desk.store, start, end).items():
        if code in tallies:
            tallies[code].transferred = n
    rows = [tallies[s.code].row(month, s.zone, s.code, s.name) for s in stations]
    total = _Tally()
    for tally in tallies.values():
        total.merge(tally)
    rows.append(total.row(month, zone or "ALL", "ALL", name))
    return rows


def _text(value: Any) -> str:
    return "–" if value is None else str(value)


def render_report(rows: list[dict], format: str) -> str:
    """The rows as csv (every column, empty for no value), html (a standalone page) or md."""
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
        return out.getvalue()
    month = rows[0]["month"] if rows else ""
    shown = [k for k in COLUMNS if k not in ("month", "zone")]
    if format == "md":
        def cell(value: Any) -> str:
            return _text(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

        lines = [f"# Complaints received in {month}", "",
                 "| " + " | ".join(COLUMNS[k] for k in shown) + " |",
                 "|" + "|".join(":---" if k in TEXT_COLUMNS else "---:" for k in shown) + "|"]
        lines += ["| " + " | ".join(cell(row.get(k)) for k in shown) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    if format == "html":
        return _html(rows, month, shown)
    raise ValueError(f"unknown format {format!r}: use csv, html or md")


def _html(rows: list[dict], month: str, shown: list[str]) -> str:
    esc = html.escape
    font = "font-family:Arial,Helvetica,sans-serif;"
    head = "".join(
        f'<th style="{font}font-size:12px;text-align:{"left" if k in TEXT_COLUMNS else "right"};'
        f'padding:6px 8px;border-bottom:2px solid #d5dbe3;color:#5f6b78;">{esc(COLUMNS[k])}</th>'
        for k in shown)
    body = []
    for row in rows:
        total = row.get("station") == "ALL"
        cells = "".join(
            f'<td style="{font}font-size:13px;text-align:'
            f'{"left" if k in TEXT_COLUMNS else "right"};padding:6px 8px;'
            f'border-bottom:1px solid #e6eaef;{"font-weight:bold;" if total else ""}">'
            f'{esc(_text(row.get(k)))}</td>' for k in shown)
        body.append(f"<tr>{cells}</tr>")
    title = f"Complaints received in {esc(month)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n"
        f'<body style="margin:16px;{font}color:#1f2933;">\n<h1 style="{font}font-size:20px;">'
        f"{title}</h1>\n"
        f'<table cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">'
        f"\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>\n"
        f'<p style="{font}font-size:12px;color:#5f6b78;">Counts and times only; no personal '
        f"data. Times are medians from the resident's mail. &ndash; means no value.</p>\n"
        f"</body>\n</html>\n"
    )
