"""The public pages: a resident's status (code and the address that filed it), and the
monthly figures per station (counts and times only, from maildesk.reports.monthly)."""

from __future__ import annotations

import hmac
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.clock import from_iso
from maildesk.reports.monthly import monthly_report
from maildesk.store import web_queries
from maildesk.web.auth import csrf_ok
from maildesk.web.charts import month_bars
from maildesk.web.words import LANGUAGES, NAMES, base_language, from_accept_language, words

if TYPE_CHECKING:
    from maildesk.web.app import Web

FIGURES_FOR = 600  # seconds a past month's figures are kept before they are computed again


def _page_language(request: Request, chosen: object = None) -> str:
    """?lang= (or the form's hidden field) first, then the browser's Accept-Language."""
    asked = str(chosen or request.query_params.get("lang") or "")
    if asked:
        return base_language(asked)
    return from_accept_language(request.headers.get("accept-language", ""))


def _render_status(web: Web, request: Request, language: str, status: int = 200,
                   **context: Any) -> Response:
    return web.render(request, "status.html", status=status, page_lang=language,
                      t=words(language), languages=[(c, NAMES[c]) for c in LANGUAGES],
                      **context)


async def status_page(request: Request) -> Response:
    web: Web = request.app.state.web
    return _render_status(web, request, _page_language(request), result=None, neutral=False,
                          limited=False)


def _lookup(web: Web, code: str, address: str) -> dict[str, Any] | None:
    """The public side of a complaint, only if `address` filed it. A wrong pair and an
    unknown code both give None, and cost about the same."""
    complaint = web.desk.store.complaint_by_code(code.strip()[:40])
    filed_by = (complaint or {}).get("resident_addr") or ""
    matches = hmac.compare_digest(filed_by.lower().encode(),
                                  address.strip().lower().encode())
    if complaint is None or not filed_by or not matches:
        return None
    local = web.desk.local_time
    # The answer speaks the language the resident wrote in.
    language = base_language(complaint.get("language"))
    said = words(language)
    notes = [{"when": local(from_iso(n["at"])), "what": said[f"note.{n['action']}"],
              "text": n["note"] or n["needed"] or ""}
             for n in web_queries.public_notes(web.desk.store, complaint["id"])]
    return {"code": complaint["code"], "language": language, "t": said,
            "status": said.get(f"status.{complaint['status']}", complaint["status"]),
            "station": web.config.station(complaint["station"]).name
            if complaint["station"] in {s.code for s in web.config.stations} else "",
            "filed": local(from_iso(complaint["created_at"])),
            "acknowledged": local(from_iso(complaint["acknowledged_at"]))
            if complaint["acknowledged_at"] else "",
            "closed": local(from_iso(complaint["closed_at"])) if complaint["closed_at"] else "",
            "notes": notes}


async def status_lookup(request: Request) -> Response:
    web: Web = request.app.state.web
    form = await request.form()
    language = _page_language(request, form.get("lang"))
    if not csrf_ok(request.session, form.get("csrf")):
        return _render_status(web, request, language, status=403, result=None, neutral=True,
                              limited=False)
    client = request.client.host if request.client else "?"
    if not web.status_limit.allow(client, web.desk.clock.now()):
        return _render_status(web, request, language, status=429, result=None, neutral=False,
                              limited=True)
    result = await run_in_threadpool(_lookup, web, str(form.get("code", "")),
                                     str(form.get("address", "")))
    return _render_status(web, request, result["language"] if result else language,
                          result=result, neutral=result is None, limited=False)


def _months(today: date, count: int = 12) -> list[str]:
    months, year, month = [], today.year, today.month
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _figures(web: Web) -> dict[str, Any]:
    desk = web.desk
    today = desk.clock.now().astimezone(desk.config.timezone).date()
    months = _months(today)
    reports = {}
    for month in months:
        cached = web.figures_cache.get(month)
        if month != months[-1] and cached and time.monotonic() - cached[0] < FIGURES_FOR:
            reports[month] = cached[1]
            continue
        reports[month] = monthly_report(desk, month)
        web.figures_cache[month] = (time.monotonic(), reports[month])
    stations = []
    for i, row in enumerate(reports[months[-1]]):
        series = [reports[m][i] for m in months]
        stations.append({"row": row, "chart": month_bars(
            months, [r["received"] for r in series],
            [r["closed_within_service_level"] for r in series])})
    return {"month": months[-1], "months": months, "stations": stations}


async def figures_page(request: Request) -> Response:
    web: Web = request.app.state.web
    data = await run_in_threadpool(_figures, web)
    return web.render(request, "figures.html", **data)


routes = [
    Route("/status", status_page, methods=["GET"]),
    Route("/status", status_lookup, methods=["POST"]),
    Route("/figures", figures_page),
]
