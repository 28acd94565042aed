"""Stage: carry out an officer's commands on a complaint.

Each command is one small function (listed with its words in registry.py) that checks it
may run, changes the complaint, records an event and queues the mail it causes; it returns a
line for the officer's confirmation, or raises Refused with the reason, which goes into the
help reply. All of it happens inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from maildesk.config.settings import Station
from maildesk.desk import Desk
from maildesk.mail.outgoing import queue_agency, queue_resident, queue_transfer_notify
from maildesk.mail.patterns import CODE_ALONE
from maildesk.sweeps.sla import pause, resume

URGENCY_OF = {"urgent": "urgent", "semi": "semi_urgent", "routine": "non_urgent"}
STATUS_WORDS = {"received": "received", "acknowledged": "acknowledged",
                "in_process": "in process", "incomplete_info": "waiting for the resident",
                "transferred": "transferred", "closed": "closed"}


Handler = Callable[["Acting", str], str]


class Refused(Exception):
    """The command cannot be carried out; the message says why, for the officer."""


@dataclass
class Acting:
    """The complaint being acted on, who acts, and the mail that carried the command."""

    desk: Desk
    complaint: dict
    station: Station
    officer: str
    message_row: int

    def change(self, action: str, detail: dict, **fields: object) -> None:
        store = self.desk.store
        if self.complaint.get("first_action_at") is None:
            fields.setdefault("first_action_at", store.now())
        if fields:
            store.set_complaint(self.complaint["id"], **fields)
        store.add_event(self.complaint["id"], self.officer, action, detail, self.message_row)
        self.complaint = store.complaint(self.complaint["id"]) or self.complaint

    def resume(self) -> dict:
        return resume(self.complaint, self.desk.clock.now())

    def tell_resident(self, template: str, **context: object) -> None:
        queue_resident(self.desk, self.station, self.complaint, template, context)


def _open(acting: Acting, command: str) -> None:
    if acting.complaint["status"] == "closed":
        raise Refused(f"#{command}: {acting.complaint['code']} is closed; it reopens when the "
                      "resident replies to the closure mail")


def _need(arg: str, command: str, what: str) -> str:
    if not arg.strip():
        raise Refused(f"#{command} needs {what}, e.g. #{command} {what}")
    return arg.strip()


def progress(acting: Acting, arg: str) -> str:
    _open(acting, "progress")
    note = _need(arg, "progress", "a note for the resident")
    acting.change("progress", {"note": note}, status="in_process", **acting.resume())
    acting.tell_resident("update", note=note, status="in_process")
    return "#progress: status is now in process; the resident was sent your note"


def note(acting: Acting, arg: str) -> str:
    acting.change("note", {"note": _need(arg, "note", "some text")})
    return "#note: kept as an internal note (the resident does not see it)"


def incomplete(acting: Acting, arg: str) -> str:
    _open(acting, "incomplete")
    needed = _need(arg, "incomplete", "what the resident should send")
    acting.change("incomplete", {"needed": needed}, status="incomplete_info",
                  **pause(acting.desk.store.now()))
    acting.tell_resident("incomplete", needed=needed)
    return "#incomplete: the resident was asked; the complaint waits for their reply"


def close(acting: Acting, arg: str) -> str:
    _open(acting, "close")
    what = _need(arg, "close", "what was done")
    acting.change("closed", {"note": what}, status="closed", closed_at=acting.desk.store.now(),
                  **acting.resume())
    acting.tell_resident("closed", note=what)
    return "#close: closed; the resident was sent the closure mail (a reply reopens it)"


def reclassify(name: str) -> Handler:
    def run(acting: Acting, arg: str) -> str:
        new, old = URGENCY_OF[name], acting.complaint["urgency"]
        if new == old:
            return f"#{name}: already {new.replace('_', '-')}"
        acting.change("reclassified", {"from": old, "to": new, "why": arg.strip(),
                                       "reasons": acting.complaint.get("reasons") or []},
                      urgency=new)
        return f"#{name}: re-classified from {old.replace('_', '-')} to {new.replace('_', '-')}"

    return run


def transfer(acting: Acting, arg: str) -> str:
    _open(acting, "transfer")
    words = _need(arg, "transfer", "a station code").split(maxsplit=1)
    config = acting.desk.config
    try:
        target = config.station(words[0])
    except KeyError:
        codes = ", ".join(s.code for s in config.stations)
        raise Refused(f"#transfer: no station {words[0]!r}; stations are {codes}") from None
    if target.code == acting.complaint["station"]:
        raise Refused(f"#transfer: {acting.complaint['code']} is already with {target.code}")
    old = acting.station
    reason = words[1] if len(words) > 1 else ""
    # The new station gets its full time: the clock starts again and waits for its action.
    acting.change("transferred", {"from": old.code, "to": target.code, "note": reason},
                  station=target.code, status="transferred", assigned_to=None,
                  clock_start=acting.desk.store.now(), first_action_at=None, **acting.resume())
    acting.tell_resident("transferred", new_station_name=target.name,
                         new_station_address=target.address, note=reason)
    queue_transfer_notify(acting.desk, target, acting.complaint, old, acting.officer, reason)
    return f"#transfer: now with {target.name}; its officers and the resident were told"


def forward(acting: Acting, arg: str) -> str:
    words = _need(arg, "forward", "an agency code").split(maxsplit=1)
    agencies = {a.code.upper(): a for a in acting.desk.config.agencies}
    agency = agencies.get(words[0].upper())
    if agency is None:
        raise Refused(f"#forward: no agency {words[0]!r}; agencies are "
                      f"{', '.join(agencies) or 'none configured'}")
    reason = words[1] if len(words) > 1 else ""
    acting.change("forwarded", {"agency": agency.code, "note": reason})
    queue_agency(acting.desk, acting.station, acting.complaint, agency, reason)
    acting.tell_resident("forwarded", agency_name=agency.name, note=reason)
    return f"#forward: sent to {agency.name} ({agency.address}); the resident was told"


def assign(acting: Acting, arg: str) -> str:
    who = _need(arg, "assign", "an officer's address or name").strip()
    officers = acting.station.officers
    match = [o for o in officers if who.lower() in (o.address, o.name.lower())
             or who.lower() in o.name.lower()]
    if len(match) != 1:
        names = "; ".join(f"{o.name} <{o.address}>" for o in officers)
        raise Refused(f"#assign: {who!r} matches {len(match)} officers of "
                      f"{acting.station.code}: {names}")
    acting.change("assigned", {"to": match[0].address}, assigned_to=match[0].address)
    return f"#assign: assigned to {match[0].name} <{match[0].address}>"


def duplicate(acting: Acting, arg: str) -> str:
    _open(acting, "duplicate")
    code = _need(arg, "duplicate", "the earlier complaint's code").split()[0].upper()
    if not CODE_ALONE.match(code):
        raise Refused(f"#duplicate: {code!r} is not a complaint code like BHL-2611-0007")
    original = acting.desk.store.complaint_by_code(code)
    if original is None or original["id"] == acting.complaint["id"]:
        raise Refused(f"#duplicate: no other complaint {code}")
    acting.change("duplicate", {"of": code}, status="closed",
                  closed_at=acting.desk.store.now(), **acting.resume())
    acting.desk.store.add_event(original["id"], acting.officer, "duplicate_merged",
                                {"from": acting.complaint["code"]}, acting.message_row)
    acting.tell_resident("duplicate", original_code=code)
    return f"#duplicate: closed as a duplicate of {code}; the resident was told"
