"""The DCP's pages: the zone (live figures, overdue list, filters, CSV), a complaint's
timeline, its attachments. Each checks the signed-in account's zone."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.clock import from_iso
from maildesk.mail.quotes import visible_reply
from maildesk.reports.digest import (
    URGENCY_LABELS,
    build_digest,
    digest_context,
    duration_text,
    latest_day,
    summary,
)
from maildesk.store import web_queries

if TYPE_CHECKING:
    from maildesk.web.app import Web

LATE = {"action": "no officer action", "closure": "not closed"}
ON_PAGE = 200  # overdue rows on the page (refreshed every few seconds); the CSV has them all


def _zone_data(web: Web, zone: str, station: str, urgency: str, late: str,
               everything: bool = False) -> dict[str, Any]:
    """The digest of the day in progress (received since the last digest; open and overdue
    as of now), with the overdue list filtered."""
    desk = web.desk
    digest = build_digest(desk, zone, latest_day(desk) + timedelta(days=1))
    context = digest_context(desk, digest)
    context["since"] = desk.local_time(digest.start)  # the last digest; the period ends later
    rows = [o for o in digest.overdue
            if (not station or o.station == station) and (not urgency or o.urgency == urgency)
            and (not late or LATE.get(late) in o.late)]
    context["overdue"] = [
        {"code": o.code, "station": o.station, "urgency": o.urgency,
         "urgency_label": URGENCY_LABELS.get(o.urgency, o.urgency), "age": duration_text(o.age),
         "late": "; ".join(o.late), "summary": summary(o.subject)}
        for o in (rows if everything else rows[:ON_PAGE])]
    context["overdue_shown"] = len(rows)
    context["overdue_more"] = max(0, len(rows) - len(context["overdue"]))
    return context


def _filters(request: Request) -> tuple[str, str, str]:
    q = request.query_params
    return q.get("station", "").upper(), q.get("urgency", ""), q.get("late", "")


def _zone_for(web: Web, request: Request) -> tuple[Any, str]:
    account = web.require(request)
    zones = web.zones_of(account)
    zone = request.path_params.get("zone") or zones[0]
    if zone not in zones:
        raise HTTPException(403)
    return account, zone


async def zone_page(request: Request) -> Response:
    web: Web = request.app.state.web
    account, zone = _zone_for(web, request)
    station, urgency, late = _filters(request)
    data = await run_in_threadpool(_zone_data, web, zone, station, urgency, late)
    return web.render(request, "zone.html", account=account, zone=zone,
                      zones=web.zones_of(account), d=data,
                      filters={"station": station, "urgency": urgency, "late": late},
                      refresh=web.config.web.refresh_seconds,
                      query=request.url.query)


async def zone_live(request: Request) -> Response:
    """The changing part of the zone page, fetched again every refresh_seconds."""
    web: Web = request.app.state.web
    account, zone = _zone_for(web, request)
    data = await run_in_threadpool(_zone_data, web, zone, *_filters(request))
    return web.render(request, "_live.html", account=account, zone=zone, d=data)


async def zone_csv(request: Request) -> Response:
    web: Web = request.app.state.web
    _, zone = _zone_for(web, request)
    data = await run_in_threadpool(_zone_data, web, zone, *_filters(request), True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "station", "urgency", "age", "late", "summary"])
    for o in data["overdue"]:
        # A leading = + - @ would be a formula in a spreadsheet: quote it away.
        text = o["summary"]
        writer.writerow([o["code"], o["station"], o["urgency"], o["age"], o["late"],
                         "'" + text if text[:1] in "=+-@" else text])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="overdue-{zone}.csv"'})


def _timeline(web: Web, complaint: dict) -> list[dict]:
    """Events and mails of a complaint, in the order they happened."""
    desk = web.desk
    items = []
    for e in desk.store.events(complaint["id"]):
        items.append({"at": e["at"], "kind": "event", "actor": e["actor"],
                      "action": e["action"].replace("_", " "),
                      "detail": ", ".join(f"{k}: {v}" for k, v in e["detail"].items()
                                          if isinstance(v, str | int | float))})
    attachments: dict[int, list[dict]] = {}
    for a in web_queries.complaint_attachments(desk.store, complaint["id"]):
        attachments.setdefault(a["message_row"], []).append(a)
    for m in desk.store.complaint_messages(complaint["id"]):
        text = m["text"] or ""
        shown = visible_reply(text) if text else ""
        items.append({"at": m["received_at"], "kind": "mail", "actor": m["from_addr"] or "",
                      "subject": m["subject"] or "", "text": shown,
                      "quoted": text if shown.strip() != text.strip() else "",
                      "attachments": attachments.get(m["id"], [])})
    items.sort(key=lambda i: (i["at"], i["kind"] != "mail"))
    for item in items:
        item["when"] = desk.local_time(from_iso(item["at"]))
    return items


async def complaint_page(request: Request) -> Response:
    web: Web = request.app.state.web
    account = web.require(request)
    complaint = await run_in_threadpool(web.desk.store.complaint_by_code,
                                        request.path_params["code"])
    if complaint is None:
        raise HTTPException(404)
    if not web.may_see_station(account, complaint["station"]):
        raise HTTPException(403)
    timeline = await run_in_threadpool(_timeline, web, complaint)
    reasons = complaint["reasons"] if isinstance(complaint["reasons"], list) else []
    dates = {k: web.desk.local_time(from_iso(complaint[k])) if complaint[k] else "–"
             for k in ("created_at", "acknowledged_at", "first_action_at", "closed_at")}
    return web.render(request, "complaint.html", account=account, c=complaint,
                      reasons=[str(r) for r in reasons], timeline=timeline, dates=dates,
                      urgency_label=URGENCY_LABELS.get(complaint["urgency"],
                                                       complaint["urgency"]))


async def attachment(request: Request) -> Response:
    web: Web = request.app.state.web
    account = web.require(request)
    row = await run_in_threadpool(web_queries.attachment, web.desk.store,
                                  request.path_params["id"])
    if row is None:
        raise HTTPException(404)
    if not web.may_see_station(account, row["station"]):
        raise HTTPException(403)
    path = web.desk.store.blob_path(row["sha256"], "attachments")
    if not path.exists():
        raise HTTPException(404)
    data = await run_in_threadpool(path.read_bytes)
    # Always a download, never shown inline: a resident's HTML or SVG must not run here.
    disposition = f"attachment; filename*=UTF-8''{quote(row['filename'], safe='')}"
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": disposition})


routes = [
    Route("/zone", zone_page),
    Route("/zone/{zone}", zone_page),
    Route("/zone/{zone}/live", zone_live),
    Route("/zone/{zone}/overdue.csv", zone_csv),
    Route("/complaints/{code}", complaint_page),
    Route("/attachments/{id:int}", attachment),
]
