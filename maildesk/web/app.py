"""The web application (Starlette): routes, sessions, security headers.

Every page of the dashboard checks who is signed in and which zone they may see; the
public pages (status, figures) show nothing personal beyond what the resident proves."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maildesk.clock import Clock
from maildesk.config.settings import Config, WebAccount
from maildesk.desk import Desk
from maildesk.mail.templates import Templates, default_templates_dir
from maildesk.store.web_queries import ReadOnlyStore
from maildesk.web import dashboard, public
from maildesk.web.auth import Accounts, csrf_ok, csrf_token
from maildesk.web.ratelimit import RateLimit

STATIC = Path(__file__).resolve().parent / "static"
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; "
     b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """A CSP without inline scripts, frame denial and no caching, on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class Web:
    """What every handler needs: the desk (read-only), the templates, accounts, limits."""

    def __init__(self, config: Config, clock: Clock) -> None:
        store = ReadOnlyStore(config.data_dir, clock)
        self.desk = Desk(config, store, Templates(default_templates_dir()), clock)
        self.accounts = Accounts(config.web)
        self.status_limit = RateLimit(config.web.status_lookups_per_hour, timedelta(hours=1))
        self.pages = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(Path(default_templates_dir()) / "web")),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True)
        self.figures_cache: dict[str, tuple[Any, list[dict]]] = {}

    @property
    def config(self) -> Config:
        return self.desk.config

    def render(self, request: Request, name: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        context.setdefault("account", self.account(request))
        context["csrf"] = csrf_token(request.session)
        html = self.pages.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status)

    def account(self, request: Request) -> WebAccount | None:
        """Who is signed in, looked up in the configuration at every request: an account
        removed from it (and the server reloaded) no longer gets in."""
        user = request.session.get("user")
        return next((a for a in self.config.web.accounts if a.user == user), None)

    def require(self, request: Request) -> WebAccount:
        account = self.account(request)
        if account is None:
            raise HTTPException(303, headers={"location": "/login"})
        return account

    def zones_of(self, account: WebAccount) -> list[str]:
        if account.zone is None:
            return [z.code for z in self.config.zones]
        return [account.zone]

    def may_see_station(self, account: WebAccount, station: str) -> bool:
        try:
            zone = self.config.station(station).zone
        except KeyError:
            return account.zone is None  # a station no longer configured: administrators
        return zone in self.zones_of(account)


async def login_page(request: Request) -> Response:
    web: Web = request.app.state.web
    return web.render(request, "login.html", error="")


async def login(request: Request) -> Response:
    web: Web = request.app.state.web
    form = await request.form()
    if not csrf_ok(request.session, form.get("csrf")):
        return web.render(request, "login.html", status=403,
                          error="The form had expired: please sign in again.")
    user, password = str(form.get("user", "")), str(form.get("password", ""))
    now = web.desk.clock.now()
    account = await run_in_threadpool(web.accounts.sign_in, user, password, now)
    if account is None:
        # One answer for a wrong name, a wrong password and a locked account, except that a
        # locked account is told to wait (so its owner knows why the right password fails).
        locked = web.accounts.locked(user, now)
        error = ("Too many failed attempts: this account is locked for a while."
                 if locked else "Wrong user name or password.")
        return web.render(request, "login.html", status=401, error=error)
    request.session.clear()  # a new session at sign-in: no fixation
    request.session["user"] = account.user
    request.session["csrf"] = secrets.token_urlsafe(24)
    return RedirectResponse("/zone", status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    if csrf_ok(request.session, form.get("csrf")):
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    web: Web = request.app.state.web
    return RedirectResponse("/zone" if web.account(request) else "/status", status_code=303)


async def forbidden(request: Request, exc: Exception) -> Response:
    web: Web = request.app.state.web
    assert isinstance(exc, HTTPException)
    if exc.status_code in (301, 302, 303):
        return RedirectResponse(exc.headers["location"], status_code=exc.status_code)
    return web.render(request, "error.html", status=exc.status_code,
                      message={403: "You may not see this page.",
                               404: "There is no such page."}.get(exc.status_code, "Error."))


def create_app(config: Config, clock: Clock | None = None) -> Starlette:
    secure = config.web.dashboard_url.startswith("https://")
    key = config.web.secret_key or secrets.token_urlsafe(32)  # unset: sessions end at restart
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        *dashboard.routes, *public.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders),
                    Middleware(SessionMiddleware, secret_key=key, session_cookie="maildesk",
                               max_age=12 * 3600, same_site="lax", https_only=secure)],
        exception_handlers={HTTPException: forbidden},
    )
    app.state.web = Web(config, clock or Clock())
    return app
