"""The daily digest: each morning the DCP of a zone gets one mail with the state of every
station of the zone, the complaints that are past a service-level deadline, and how that
changed since the day before.

The digest of a day covers the 24 hours ending at the configured digest time on that day
(local time) and shows the desk as it stood at that moment: anything stored later (a closure,
an acknowledgement) does not count yet, so a digest built again later shows the same figures.
(What the store does not keep is taken as it is now: a closure undone by a reopening, the
station before a transfer, the urgency before a re-classification.) The previous day's
figures are computed the same way, for the day before.

`build_digest` computes it, `render_digest` turns it into plain text and HTML (templates
digest.txt and digest.html), `queue_digest` puts it in the outbox once per zone and day.
"""

from __future__ import annotations

import secrets
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from maildesk.clock import from_iso, to_iso
from maildesk.config.settings import URGENCIES, Station, Zone
from maildesk.desk import Desk
from maildesk.mail.message import build_message, make_message_id
from maildesk.store import figures
from maildesk.sweeps.sla import deadlines

ACKNOWLEDGE_WITHIN = timedelta(hours=1)
URGENCY_LABELS = {"urgent": "urgent", "semi_urgent": "semi-urgent", "non_urgent": "non-urgent"}
NO_ACTION, NOT_CLOSED = "no officer action", "not closed"
OVERDUE_SHOWN = 50  # the mail lists this many overdue complaints, then says how many more
SUMMARY_CHARS = 60  # each with its subject cut to this length


@dataclass
class Figures:
    """One station's figures (or the whole zone's) for one digest."""

    code: str
    name: str
    received: int = 0
    acknowledged_in_hour: int = 0
    median_acknowledge: timedelta | None = None
    median_first_action: timedelta | None = None
    open_by_urgency: dict[str, int] = field(default_factory=lambda: dict.fromkeys(URGENCIES, 0))
    overdue: int = 0
    closed: int = 0
    oldest_open: timedelta | None = None

    @property
    def open(self) -> int:
        return sum(self.open_by_urgency.values())

    @property
    def acknowledged_in_hour_pct(self) -> int | None:
        """Of the complaints received in the period, % acknowledged within the hour."""
        if not self.received:
            return None
        return round(100 * self.acknowledged_in_hour / self.received)


@dataclass(frozen=True)
class Overdue:
    code: str
    station: str
    urgency: str
    age: timedelta
    late: tuple[str, ...]  # "no officer action", "not closed"
    subject: str = ""


@dataclass(frozen=True)
class Change:
    label: str
    yesterday: int
    today: int

    @property
    def delta(self) -> int:
        return self.today - self.yesterday


@dataclass
class Digest:
    zone: Zone
    day: date
    start: datetime  # the period, UTC: [start, end)
    end: datetime
    as_of: datetime  # the moment "open" and "overdue" refer to: end, or now if earlier
    stations: list[Figures]
    total: Figures
    previous: dict[str, Figures]  # the day before, by station code, and "" for the zone
    overdue: list[Overdue]
    changes: list[Change]
    floods: list[dict] = field(default_factory=list)  # senders whose mail or answers were held


# -- computing --------------------------------------------------------------------------------


def period(desk: Desk, day: date) -> tuple[datetime, datetime]:
    """The 24 hours (UTC) ending at the digest time of `day`, local time."""
    local = datetime.combine(day, desk.config.digest_time, tzinfo=desk.config.timezone)
    end = from_iso(to_iso(local))
    return end - timedelta(hours=24), end


def latest_day(desk: Desk) -> date:
    """The last day whose digest time has passed: the digest due now."""
    now = desk.clock.now()
    today = now.astimezone(desk.config.timezone).date()
    return today if period(desk, today)[1] <= now else today - timedelta(days=1)


def _at(text: str | None, as_of: datetime) -> datetime | None:
    """A stored moment, if it had happened by `as_of`."""
    if text is None:
        return None
    moment = from_iso(text)
    return moment if moment <= as_of else None


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def lateness(desk: Desk, row: dict, as_of: datetime) -> tuple[str, ...]:
    """What an open complaint is late with at `as_of`: "no officer action", "not closed".
    The deadlines are those of maildesk.sweeps.sla (from clock_start, plus the service level, plus
    the time spent waiting on the resident); while it waits, nothing is late."""
    if _at(row["paused_since"], as_of) is None:
        row = {**row, "paused_since": None}  # it started waiting only later
    due = deadlines(row, desk.config.service_levels, as_of)
    if due.paused:
        return ()
    late = []
    if _at(row["first_action_at"], as_of) is None and as_of > due.first_action:
        late.append(NO_ACTION)
    if as_of > due.closure:
        late.append(NOT_CLOSED)
    return tuple(late)


@dataclass
class _Tally:
    """The raw values behind one station's figures (or, merged, the zone's)."""

    received: int = 0
    in_hour: int = 0
    to_ack: list[timedelta] = field(default_factory=list)
    to_action: list[timedelta] = field(default_factory=list)
    open: dict[str, int] = field(default_factory=lambda: dict.fromkeys(URGENCIES, 0))
    oldest: timedelta | None = None
    overdue: list[Overdue] = field(default_factory=list)
    closed: int = 0

    def add_received(self, row: dict, as_of: datetime) -> None:
        self.received += 1
        created = from_iso(row["created_at"])
        acknowledged = _at(row["acknowledged_at"], as_of)
        if acknowledged is not None:
            self.to_ack.append(acknowledged - created)
            self.in_hour += acknowledged - created <= ACKNOWLEDGE_WITHIN
        acted = _at(row["first_action_at"], as_of)
        if acted is not None:  # on the current clock: a transfer or reopening restarts it
            self.to_action.append(acted - from_iso(row["clock_start"] or row["created_at"]))

    def add_open(self, desk: Desk, row: dict, as_of: datetime) -> None:
        self.open[row["urgency"]] = self.open.get(row["urgency"], 0) + 1
        age = as_of - from_iso(row["created_at"])
        self.oldest = age if self.oldest is None else max(self.oldest, age)
        late = lateness(desk, row, as_of)
        if late:
            self.overdue.append(Overdue(row["code"], row["station"], row["urgency"], age, late,
                                        row.get("subject") or ""))

    def merge(self, other: _Tally) -> None:
        self.received += other.received
        self.in_hour += other.in_hour
        self.to_ack += other.to_ack
        self.to_action += other.to_action
        for urgency, count in other.open.items():
            self.open[urgency] = self.open.get(urgency, 0) + count
        if other.oldest is not None:
            self.oldest = other.oldest if self.oldest is None else max(self.oldest, other.oldest)
        self.overdue += other.overdue
        self.closed += other.closed

    def figures(self, code: str, name: str) -> Figures:
        return Figures(code, name, received=self.received, acknowledged_in_hour=self.in_hour,
                       median_acknowledge=_median(self.to_ack),
                       median_first_action=_median(self.to_action),
                       open_by_urgency=dict(self.open), overdue=len(self.overdue),
                       closed=self.closed, oldest_open=self.oldest)


def _day_figures(desk: Desk, zone: Zone, day: date
                 ) -> tuple[datetime, datetime, datetime, list[Figures], Figures, list[Overdue]]:
    start, end = period(desk, day)
    as_of = min(end, desk.clock.now())
    stations = [s for s in desk.config.stations if s.zone == zone.code]
    codes = [s.code for s in stations]
    tallies = {code: _Tally() for code in codes}
    for row in figures.received_between(desk.store, codes, to_iso(start), to_iso(end)):
        tallies[row["station"]].add_received(row, as_of)
    for row in figures.open_at(desk.store, codes, to_iso(as_of)):
        tallies[row["station"]].add_open(desk, row, as_of)
    for code, closed in figures.closed_between(desk.store, codes, to_iso(start),
                                               to_iso(end)).items():
        tallies[code].closed = closed
    zone_tally = _Tally()
    for tally in tallies.values():
        zone_tally.merge(tally)
    per_station = [tallies[s.code].figures(s.code, s.name) for s in stations]
    total = zone_tally.figures("", zone.name)
    return start, end, as_of, per_station, total, zone_tally.overdue


def build_digest(desk: Desk, zone_code: str, day: date) -> Digest:
    """The digest of `zone_code` for `day`. Raises KeyError for an unknown zone."""
    zone = desk.config.zone(zone_code)
    start, end, as_of, stations, total, overdue = _day_figures(desk, zone, day)
    *_, before, before_total, _ = _day_figures(desk, zone, day - timedelta(days=1))
    order = {u: i for i, u in enumerate(URGENCIES)}
    overdue.sort(key=lambda o: (order.get(o.urgency, len(order)), -o.age, o.code))
    previous = {f.code: f for f in before} | {"": before_total}
    changes = [Change(label, getattr(before_total, attr), getattr(total, attr))
               for label, attr in (("Received", "received"), ("Open", "open"),
                                   ("Overdue", "overdue"), ("Closed", "closed"))]
    floods = desk.store.flood_senders([f.code for f in stations], start, end)
    return Digest(zone, day, start, end, as_of, stations, total, previous, overdue, changes,
                  floods)


# -- rendering --------------------------------------------------------------------------------


def duration_text(value: timedelta | None) -> str:
    """'45 min', '3 h 20 min', '2 d 4 h', '<1 min'; '–' for none."""
    if value is None:
        return "–"
    if timedelta(0) < value < timedelta(minutes=1):
        return "<1 min"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _signed(delta: int) -> str:
    return f"+{delta}" if delta > 0 else ("±0" if delta == 0 else f"−{-delta}")


def _percent(value: int | None) -> str:
    return "–" if value is None else f"{value}%"


BAR_WIDTH = 100  # pixels for the station with the most open complaints


def _station_view(f: Figures, before: Figures | None, most_open: int) -> dict[str, Any]:
    scale = BAR_WIDTH / most_open if most_open else 0
    bar = [(u, f.open_by_urgency.get(u, 0), max(2, round(f.open_by_urgency.get(u, 0) * scale)))
           for u in URGENCIES if f.open_by_urgency.get(u, 0)]
    return {
        "code": f.code, "name": f.name, "received": f.received, "open": f.open,
        "urgent": f.open_by_urgency.get("urgent", 0),
        "semi_urgent": f.open_by_urgency.get("semi_urgent", 0),
        "non_urgent": f.open_by_urgency.get("non_urgent", 0),
        "bar": [{"urgency": u, "count": n, "width": w} for u, n, w in bar],
        "bar_width": sum(w for _, _, w in bar),
        "ack_pct": f.acknowledged_in_hour_pct,
        "ack_text": _percent(f.acknowledged_in_hour_pct),
        "median_ack": duration_text(f.median_acknowledge),
        "median_action": duration_text(f.median_first_action),
        "overdue": f.overdue, "closed": f.closed, "oldest": duration_text(f.oldest_open),
        "open_change": _signed(f.open - before.open) if before else "",
        "overdue_change": _signed(f.overdue - before.overdue) if before else "",
    }


def summary(subject: str, chars: int = SUMMARY_CHARS) -> str:
    """A subject on one line, cut at a word to at most `chars` characters."""
    line = " ".join(subject.split())
    if len(line) <= chars:
        return line
    cut = line[: chars - 1].rsplit(" ", 1)[0] if " " in line[: chars - 1] else line[: chars - 1]
    return cut.rstrip(" ,.;:-") + "…"


def digest_context(desk: Desk, digest: Digest) -> dict[str, Any]:
    """What both templates get: every value already formatted as text."""
    local = desk.config.timezone
    base = desk.config.web.dashboard_url
    end_local = digest.end.astimezone(local)
    most_open = max([f.open for f in digest.stations] + [0])
    overdue = [{"code": o.code, "station": o.station, "urgency": o.urgency,
                "urgency_label": URGENCY_LABELS.get(o.urgency, o.urgency),
                "age": duration_text(o.age), "late": "; ".join(o.late),
                "summary": summary(o.subject),
                "link": f"{base}/complaints/{o.code}" if base else ""}
               for o in digest.overdue[:OVERDUE_SHOWN]]
    return {
        "zone_code": digest.zone.code, "zone_name": digest.zone.name,
        "day": end_local.strftime("%a %d %b %Y"),
        "period": f"{desk.local_time(digest.start)} to {desk.local_time(digest.end)}",
        "as_of": desk.local_time(digest.as_of),
        "complete": digest.as_of >= digest.end,
        "stations": [_station_view(f, digest.previous.get(f.code), most_open)
                     for f in digest.stations],
        "total": _station_view(digest.total, digest.previous.get(""), most_open),
        "changes": [{"label": c.label, "yesterday": c.yesterday, "today": c.today,
                     "delta": c.delta, "delta_text": _signed(c.delta),
                     "tone": _tone(c)} for c in digest.changes],
        "overdue": overdue, "overdue_total": len(digest.overdue),
        "overdue_more": max(0, len(digest.overdue) - OVERDUE_SHOWN),
        "dashboard_link": f"{base}/zone/{digest.zone.code}" if base else "",
        "ack_within": duration_text(ACKNOWLEDGE_WITHIN),
        "levels": [{"urgency": URGENCY_LABELS[u],
                    "first_action": duration_text(desk.config.service_levels[u].first_action),
                    "closure": duration_text(desk.config.service_levels[u].closure)}
                   for u in URGENCIES],
        "replies_to": desk.config.admins[0] if desk.config.admins else "",
        "floods": [{"station": f["station"], "address": f["address"], "mails": f["mails"],
                    "limited": f["limited"], "held": f["held"]} for f in digest.floods],
    }


def _tone(change: Change) -> str:
    """good, bad or neutral: more open or overdue complaints is bad, more closed is good."""
    better = {"Open": -1, "Overdue": -1, "Closed": 1}.get(change.label, 0)
    if not better or not change.delta:
        return "neutral"
    return "good" if change.delta * better > 0 else "bad"


def render_digest(desk: Desk, digest: Digest) -> tuple[str, str, str]:
    """(subject, plain text, HTML). The HTML template is auto-escaped."""
    context = digest_context(desk, digest)
    subject, text = desk.templates.render("digest", "en", **context)
    html = desk.templates.render_html("digest", "en", **context)
    return subject, text, html


# -- sending ----------------------------------------------------------------------------------


def build_digest_mail(desk: Desk, digest: Digest, to: list[str], message_id: str) -> bytes:
    """One multipart/alternative mail (text, then HTML), headers written by compose (which
    encodes the subject and names safely), sent from the zone's first station."""
    subject, text, html = render_digest(desk, digest)
    sender = _sender(desk, digest.zone)
    return build_message(
        from_addr=sender.address, from_name=f"maildesk {digest.zone.name}", to_addrs=to,
        subject=subject, body=text, html=html, message_id=message_id,
        auto_submitted="auto-generated",
        reply_to=desk.config.admins[0] if desk.config.admins else None,
        extra_headers={"X-Maildesk-Zone": digest.zone.code,
                       "X-Maildesk-Digest": digest.day.isoformat()},
        date=desk.clock.now(),
    )


def _sender(desk: Desk, zone: Zone) -> Station:
    for station in desk.config.stations:
        if station.zone == zone.code:
            return station
    raise KeyError(f"zone {zone.code} has no station to send its digest from")


def queue_digest(desk: Desk, zone_code: str, day: date) -> bool:
    """Queue the digest of (zone, day) for the zone's DCP, once: the outbox row and the
    `digests` row are written in one transaction. False if it was queued before (also by an
    earlier run of the program) or the zone has no DCP address to send to. ValueError if the
    day's digest time has not come yet: the mail goes once, so only when it is complete."""
    zone = desk.config.zone(zone_code)
    store = desk.store
    due = period(desk, day)[1]
    if desk.clock.now() < due:
        raise ValueError(f"the digest of {day.isoformat()} is due at {desk.local_time(due)}")
    if figures.digest_sent(store, zone.code, day.isoformat()):
        return False
    to = [a for a in zone.dcp if not store.is_undeliverable(a)]
    if not to:
        return False
    digest = build_digest(desk, zone.code, day)
    sender = _sender(desk, zone)
    message_id = make_message_id(f"digest.{zone.code}.{day.isoformat()}."
                                 f"{secrets.token_hex(6)}", desk.config.message_domain)
    raw = build_digest_mail(desk, digest, to, message_id)
    with store.transaction():
        if not figures.claim_digest(store, zone.code, day.isoformat(), store.now()):
            return False  # another process got there between the check and now
        outbox_id = store.queue_mail(message_id=message_id, kind="digest", station=sender.code,
                                     mail_from=sender.address, rcpt_to=to, raw=raw)
        figures.set_digest_outbox(store, zone.code, day.isoformat(), outbox_id)
    return True
