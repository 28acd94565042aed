"""The web pages in a real browser: Playwright drives Debian's Chromium against a real
uvicorn on a loopback port, over a complaint that came in as real mail through Dovecot and
became overdue on simulated time. Screenshots at phone and desktop width are kept in
test-artifacts/web/ (not in git)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import needs
import pytest
import uvicorn
import yaml
from deskenv import StationAccount, fixture, parse, resident_mail, write_config
from webenv import HASHES, PASSWORDS, open_store

from maildesk.clock import FakeClock
from maildesk.config.settings import Config, load_config
from maildesk.daemon import poll_once
from maildesk.web.app import create_app

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
RESIDENT = "ananya.roy1987@gmail.com"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}

try:
    from playwright import sync_api
except ImportError:  # the test extra brings it; without it the test says so below
    sync_api = None


def browser_config(tmp_path: Path, imap: tuple[str, int], smtp: tuple[str, int],
                   bhl: StationAccount) -> Config:
    """The test servers' configuration with a second zone and a `web:` section, read from
    YAML like a deployment's."""
    path, env = write_config(tmp_path, imap, smtp, [bhl])
    data = yaml.safe_load(path.read_text())
    data["zones"].append({"code": "MUM-Z6", "name": "Mumbai Zone 6",
                          "dcp": ["dcp.z6@maildesk.test"]})
    data["web"] = {"secret_key_env": "WEB_SECRET", "refresh_seconds": 1,
                   "dashboard_url": "http://127.0.0.1",
                   "accounts": [{"user": "dcp.ne", "password_hash": HASHES["dcp.ne"],
                                 "zone": "KOL-NE"},
                                {"user": "dcp.z6", "password_hash": HASHES["dcp.z6"],
                                 "zone": "MUM-Z6"}]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path, env={**env, "WEB_SECRET": "browser-test-secret"})


@pytest.fixture
def chromium() -> str:
    missing = ("Chromium is not installed (scripts/test installs it)"
               if shutil.which(CHROMIUM) is None else
               "playwright is not installed (pip install -e '.[test]')" if sync_api is None
               else "")
    if missing:
        needs.missing(missing)
    return CHROMIUM


@pytest.fixture
def served(tmp_path: Path, dovecot, mailbox_user, smtp) -> Iterator[tuple]:
    bhl = StationAccount("BHL", mailbox_user.name, mailbox_user.password,
                         ("si.roy@maildesk.test",))
    config = browser_config(tmp_path, (dovecot.host, dovecot.port), (smtp.host, smtp.port),
                            bhl)
    clock = FakeClock()
    dovecot.append(bhl.user, fixture("en_urgent_fire.eml"))
    asyncio.run(poll_once(config, clock))
    clock.advance(timedelta(minutes=45))  # urgent, 30 minutes to the first action: overdue
    # A socket bound and listening before the server thread starts: the browser's first
    # connection waits in its backlog, so nothing has to wait for the server to come up.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(config, clock), log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", config, clock, dovecot, bhl
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def poll_in_thread(config: Config, clock: FakeClock) -> None:
    """One intake pass, in a thread of its own: Playwright's loop runs in this one."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(poll_once(config, clock))
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert not errors, errors


def code_of(config: Config, message_id: str) -> str:
    """The complaint code the desk gave the mail with `message_id`."""
    store = open_store(config)
    try:
        complaint = store.complaint_by_message_ids([message_id.strip("<>")])
    finally:
        store.close()
    assert complaint is not None, message_id
    return complaint["code"]


def shoot(page, name: str) -> None:
    """The page at phone and desktop width, full length."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)


def sign_in(page, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit] >> text=Sign in")


def test_dashboard_status_and_figures_in_chromium(served: tuple, chromium: str) -> None:
    base, config, clock, dovecot, bhl = served
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            # The zone's DCP signs in and finds the complaint at the top of the overdue list.
            dcp = browser.new_page()
            sign_in(dcp, base, "dcp.ne", PASSWORDS["dcp.ne"])
            expect(dcp.locator("h1")).to_contain_text("Kolkata North and East")
            first = dcp.locator("#overdue li").first
            expect(first).to_contain_text("BHL-")
            expect(first).to_contain_text("URGENT: Fire in the building next door")
            expect(first).to_contain_text("no officer action")
            code = first.locator("b").first.inner_text()
            shoot(dcp, "zone")

            # A new mail comes in: the page shows it without a reload.
            received = dcp.locator(".tile .value").first
            expect(received).to_have_text("1")
            dovecot.append(bhl.user, resident_mail(
                "second.resident@example.net", bhl.address, "Streetlight broken",
                "The streetlight outside house 12 has been broken for a week.",
                "second@example.net"))
            poll_in_thread(config, clock)
            expect(received).to_have_text("2", timeout=15_000)

            dcp.click(f"text={code}")
            expect(dcp.locator("h1")).to_contain_text(code)
            expect(dcp.locator(".timeline")).to_contain_text("people trapped")
            expect(dcp.locator(".reasons")).to_be_visible()
            shoot(dcp, "complaint")

            # Another zone's DCP sees their own zone, and not this complaint, not even by URL.
            other = browser.new_page()
            sign_in(other, base, "dcp.z6", PASSWORDS["dcp.z6"])
            expect(other.locator("h1")).to_contain_text("Mumbai Zone 6")
            expect(other.locator("main")).not_to_contain_text(code)
            answer = other.goto(f"{base}/complaints/{code}")
            assert answer is not None and answer.status == 403
            expect(other.locator("main")).not_to_contain_text("Fire")
            answer = other.goto(f"{base}/zone/KOL-NE")
            assert answer is not None and answer.status == 403

            # Five wrong passwords lock the account; then the right one is refused too.
            guesser = browser.new_page()
            for _ in range(5):
                sign_in(guesser, base, "dcp.ne", "wrong-guess")
            expect(guesser.locator(".error")).to_contain_text("locked")
            sign_in(guesser, base, "dcp.ne", PASSWORDS["dcp.ne"])
            expect(guesser.locator(".error")).to_contain_text("locked")
            assert guesser.url.endswith("/login")
            shoot(guesser, "locked")

            # The resident: the right pair shows the status, a wrong one shows nothing.
            resident = browser.new_page()
            resident.goto(f"{base}/status")
            resident.fill("input[name=code]", code.lower())
            resident.fill("input[name=address]", RESIDENT)
            resident.click("text=Look up")
            expect(resident.locator("#answer h2")).to_contain_text(f"{code}: Acknowledged")
            shoot(resident, "status")
            resident.fill("input[name=code]", code)
            resident.fill("input[name=address]", "not.me@example.net")
            resident.click("text=Look up")
            expect(resident.locator("#answer")).to_contain_text("We found no complaint")
            expect(resident.locator("main")).not_to_contain_text("Acknowledged")
            shoot(resident, "status-neutral")

            # A resident who wrote in Bengali; the officer's #progress note reaches the page,
            # which answers in Bengali whatever the browser asks for.
            bengali = parse(fixture("bn_long_subject.eml"))
            dovecot.append(bhl.user, fixture("bn_long_subject.eml"))
            poll_in_thread(config, clock)
            bn_code = code_of(config, bengali["Message-ID"])
            note = "টহলদারি গাড়ি পাঠানো হয়েছে। আজ সন্ধ্যায় আধিকারিক আসবেন।"
            dovecot.append(bhl.user, resident_mail(
                "si.roy@maildesk.test", bhl.address, f"Re: [{bn_code}] অভিযোগ",
                f"#progress {note}", "si.roy.reply@maildesk.test"))
            poll_in_thread(config, clock)
            resident.goto(f"{base}/status")
            resident.fill("input[name=code]", bn_code)
            resident.fill("input[name=address]", bengali["From"].addresses[0].addr_spec)
            resident.click("text=Look up")
            expect(resident.locator("#answer h2")).to_contain_text(f"{bn_code}: কাজ চলছে")
            expect(resident.locator("#answer")).to_contain_text(note)
            expect(resident.locator("#answer")).not_to_contain_text("Acknowledged")
            shoot(resident, "status-bn")

            resident.goto(f"{base}/figures")
            expect(resident.locator("svg.chart").first).to_be_visible()
            expect(resident.locator("main")).not_to_contain_text(RESIDENT)
            expect(resident.locator("main")).not_to_contain_text("Fire")
            shoot(resident, "figures")
        finally:
            browser.close()
