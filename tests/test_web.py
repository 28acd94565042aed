"""`maildesk serve` over HTTP (Starlette's test client): sign-in, zones, lock-out, CSRF,
attachments, the resident's status page, the public figures, headers, CSV."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webenv import NOW, PASSWORDS, add_complaint, fill, open_store, web_config

from maildesk.clock import FakeClock
from maildesk.config.settings import Config
from maildesk.web.app import create_app


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return web_config(tmp_path, lockout_after=5, status_lookups_per_hour=5)


@pytest.fixture
def ids(config: Config) -> dict[str, int]:
    store = open_store(config)
    try:
        return fill(store)
    finally:
        store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def client(config: Config, ids: dict[str, int], clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(config, clock), follow_redirects=False) as c:
        yield c


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def sign_in(client: TestClient, user: str, password: str | None = None) -> object:
    token = csrf(client, "/login")
    return client.post("/login", data={"user": user, "password": password or PASSWORDS[user],
                                       "csrf": token})


def test_sign_in_shows_the_zone_live_figures_and_overdue_list_in_order(
        client: TestClient) -> None:
    assert client.get("/zone").status_code == 303  # not signed in: to the sign-in page
    answer = sign_in(client, "dcp.ne")
    assert answer.status_code == 303 and answer.headers["location"] == "/zone"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = client.get("/zone")
    assert page.status_code == 200
    assert "Kolkata North and East" in page.text and "Behala Police Station" in page.text
    # most urgent first, with the subject as its summary; not the other zone's
    urgent, semi = page.text.index("BHL-2611-0001"), page.text.index("BHL-2611-0002")
    assert urgent < semi
    assert "Noise every night" in page.text
    assert "AND-2611-0001" not in page.text and "Andheri theft" not in page.text
    assert "LKT-2611-0001" not in page.text.split("Overdue")[-1]  # acted on, in time
    live = client.get("/zone/KOL-NE/live")
    assert live.status_code == 200 and "BHL-2611-0001" in live.text
    assert "<html" not in live.text  # a fragment, for the page's refresh


def test_filters_and_csv_export(client: TestClient) -> None:
    sign_in(client, "dcp.ne")
    page = client.get("/zone/KOL-NE", params={"urgency": "semi_urgent"})
    overdue = page.text.split('id="overdue"')[1]
    assert "BHL-2611-0002" in overdue and "BHL-2611-0001" not in overdue
    exported = client.get("/zone/KOL-NE/overdue.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0] == "code,station,urgency,age,late,summary"
    assert [line.split(",")[0] for line in lines[1:]] == ["BHL-2611-0001", "BHL-2611-0002"]


def test_the_page_shows_the_first_overdue_rows_and_the_csv_all(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from maildesk.web import dashboard

    monkeypatch.setattr(dashboard, "ON_PAGE", 1)
    sign_in(client, "dcp.ne")
    overdue = client.get("/zone/KOL-NE").text.split('id="overdue"')[1]
    assert "BHL-2611-0001" in overdue and "BHL-2611-0002" not in overdue
    assert "and 1 more" in overdue
    assert "BHL-2611-0002" in client.get("/zone/KOL-NE/overdue.csv").text


def test_another_zone_is_forbidden_also_by_typing_its_url(client: TestClient,
                                                         ids: dict[str, int]) -> None:
    sign_in(client, "dcp.z6")
    assert client.get("/zone/KOL-NE").status_code == 403
    assert client.get("/zone/KOL-NE/live").status_code == 403
    assert client.get("/zone/KOL-NE/overdue.csv").status_code == 403
    page = client.get("/complaints/BHL-2611-0001")
    assert page.status_code == 403 and "Chain snatched" not in page.text
    assert client.get(f"/attachments/{ids['attachment']}").status_code == 403
    own = client.get("/complaints/AND-2611-0001")
    assert own.status_code == 200 and "Andheri theft" in own.text


def test_an_administrator_sees_every_zone(client: TestClient) -> None:
    sign_in(client, "admin")
    assert "Kolkata North and East" in client.get("/zone/KOL-NE").text
    assert "AND-2611-0001" in client.get("/zone/MUM-Z6").text
    assert client.get("/complaints/BHL-2611-0001").status_code == 200


def test_complaint_page_shows_the_timeline_reasons_and_folded_quotes(
        client: TestClient) -> None:
    sign_in(client, "dcp.ne")
    page = client.get("/complaints/BHL-2611-0001")
    assert page.status_code == 200
    assert "phrase &#39;snatched&#39; (theft happening now)" in page.text
    assert "They are running towards the station road now." in page.text
    shown = page.text.split("<details>")[0]
    assert "earlier text" not in shown  # the quote is folded away...
    assert "earlier text" in page.text  # ...into the details
    assert "scooter photo.pdf" in page.text and "received" in page.text
    assert client.get("/complaints/BHL-2699-9999").status_code == 404


def test_attachments_need_a_signed_in_user_of_that_zone(client: TestClient,
                                                       ids: dict[str, int]) -> None:
    url = f"/attachments/{ids['attachment']}"
    anonymous = client.get(url)
    assert anonymous.status_code == 303 and b"PDF" not in anonymous.content
    sign_in(client, "dcp.ne")
    download = client.get(url)
    assert download.status_code == 200 and download.content.startswith(b"%PDF-1.4")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
        client: TestClient, clock: FakeClock) -> None:
    for _ in range(4):
        assert sign_in(client, "dcp.ne", "guess").status_code == 401
    fifth = sign_in(client, "dcp.ne", "guess")
    assert fifth.status_code == 401 and "locked" in fifth.text
    refused = sign_in(client, "dcp.ne")
    assert refused.status_code == 401 and "locked" in refused.text
    assert client.get("/zone").status_code == 303
    assert sign_in(client, "dcp.z6").status_code == 303  # others are not locked out
    client.cookies.clear()
    clock.advance(timedelta(minutes=16))  # the lock-out runs out
    assert sign_in(client, "dcp.ne").status_code == 303


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client: TestClient) -> None:
    unknown = sign_in(client, "nobody", "guess")
    wrong = sign_in(client, "dcp.ne", "guess")
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong user name or password." in unknown.text and "Wrong user" in wrong.text


def test_sign_in_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    answer = client.post("/login", data={"user": "dcp.ne", "password": PASSWORDS["dcp.ne"]})
    assert answer.status_code == 403
    forged = client.post("/login", data={"user": "dcp.ne", "password": PASSWORDS["dcp.ne"],
                                         "csrf": "made-up"})
    assert forged.status_code == 403 and client.get("/zone").status_code == 303


def lookup(client: TestClient, code: str, address: str) -> object:
    return client.post("/status", data={"code": code, "address": address,
                                        "csrf": csrf(client, "/status")})


def answer_part(text: str) -> str:
    return text.split("<main>")[1].split("<form")[0]


def test_status_page_answers_the_right_pair_and_nothing_else(client: TestClient) -> None:
    right = lookup(client, "bhl-2611-0002", "Rina.Dutta@example.net")
    assert right.status_code == 200
    assert "<h2>BHL-2611-0002: Acknowledged</h2>" in right.text
    assert "BHL-2611-0002" in right.text and "A patrol visited the lane." in right.text
    assert "INTERNAL" not in right.text  # an internal note is not public
    assert "Noise every night" not in right.text  # nor the complaint's text or subject
    wrong_address = lookup(client, "BHL-2611-0002", "someone.else@example.net")
    unknown_code = lookup(client, "BHL-2611-0999", "rina.dutta@example.net")
    assert wrong_address.status_code == unknown_code.status_code == 200
    assert answer_part(wrong_address.text) == answer_part(unknown_code.text)
    assert "BHL-2611-0002" not in wrong_address.text and "patrol" not in wrong_address.text


def test_status_page_speaks_the_residents_language(config: Config, client: TestClient) -> None:
    store = open_store(config)
    try:
        with store.transaction():
            complaint = add_complaint(store, "LKT-2611-0002", "semi_urgent", timedelta(hours=5),
                                      resident="tapas.roy@example.in", language="bn")
            store.add_event(complaint, "si.lkt@maildesk.test", "progress",
                            {"note": "পাড়ায় টহল দেওয়া হয়েছে।"})
    finally:
        store.close()
    # The form follows the browser; ?lang= overrides it.
    assert "मेरी शिकायत कहाँ तक पहुँची?" in client.get(
        "/status", headers={"accept-language": "hi-IN,hi;q=0.9,en;q=0.8"}).text
    assert '<html lang="mr">' in client.get("/status?lang=mr").text
    assert "Where is my complaint?" in client.get(
        "/status", headers={"accept-language": "fr-FR,de;q=0.5"}).text
    # The answer is in the language the resident wrote in, whatever the page's language.
    found = lookup(client, "LKT-2611-0002", "tapas.roy@example.in")
    shown = answer_part(found.text)
    assert "<h2>LKT-2611-0002: প্রাপ্তিস্বীকার পাঠানো হয়েছে</h2>" in shown
    assert "হালনাগাদ" in shown and "Acknowledged" not in shown
    assert "পাড়ায় টহল দেওয়া হয়েছে।" in shown and 'lang="bn"' in shown
    # A wrong pair is answered in the page's language, the same as an unknown code.
    client.get("/status?lang=hi")
    wrong = client.post("/status", data={"code": "LKT-2611-0002", "address": "x@example.net",
                                         "lang": "hi", "csrf": csrf(client, "/status")})
    unknown = client.post("/status", data={"code": "LKT-2611-0999", "address": "x@example.net",
                                           "lang": "hi", "csrf": csrf(client, "/status")})
    assert answer_part(wrong.text) == answer_part(unknown.text)
    assert "कोई शिकायत नहीं मिली" in wrong.text and "বাংলা" in wrong.text  # the switcher
    assert '<html lang="hi">' in wrong.text
    assert '<section class="card" id="answer"' not in wrong.text


def test_status_page_is_rate_limited_per_client(client: TestClient) -> None:
    for _ in range(5):
        assert lookup(client, "BHL-2611-0999", "x@example.net").status_code == 200
    limited = lookup(client, "BHL-2611-0002", "rina.dutta@example.net")
    assert limited.status_code == 429 and "patrol" not in limited.text


def test_transparency_page_has_figures_and_charts_but_no_personal_data(
        client: TestClient) -> None:
    page = client.get("/figures")
    assert page.status_code == 200
    assert page.text.count("<svg") == 4  # three stations and all of them together
    assert "Behala Police Station" in page.text and "2026-11" in page.text
    for personal in ("rina.dutta", "Rina Dutta", "Chain snatched", "Noise", "mumbai.resident"):
        assert personal not in page.text


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/login", "/status", "/figures", "/zone"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
    assert "<script>" not in client.get("/status").text  # no inline scripts to allow


def test_the_web_server_cannot_write_the_database(config: Config, ids: dict[str, int]) -> None:
    import sqlite3

    from maildesk.store.web_queries import ReadOnlyStore

    store = ReadOnlyStore(config.data_dir)
    try:
        with pytest.raises(sqlite3.OperationalError):
            store.db.execute("DELETE FROM complaints")
        assert store.complaint_by_code("BHL-2611-0001") is not None
    finally:
        store.close()


def test_the_digest_links_its_overdue_rows_to_the_dashboard_with_a_summary(
        tmp_path: Path) -> None:
    import dataclasses

    from maildesk.desk import Desk
    from maildesk.reports.digest import build_digest, latest_day, render_digest, summary

    config = web_config(tmp_path, dashboard_url="https://desk.example")
    long_subject = "Loud music " + "and shouting " * 10
    store = open_store(config)
    fill(store)
    with store.transaction():
        from webenv import add_complaint
        add_complaint(store, "LKT-2611-0009", "urgent", timedelta(hours=5),
                      subject=long_subject)
    desk = Desk.open(dataclasses.replace(config), clock=FakeClock(NOW))
    store.close()
    try:
        _, text, html = render_digest(desk, build_digest(desk, "KOL-NE", latest_day(desk)))
    finally:
        desk.close()
    assert '<a href="https://desk.example/complaints/LKT-2611-0009"' in html
    cut = summary(long_subject)
    assert len(cut) <= 60 and cut.endswith("…") and cut.startswith("Loud music and")
    assert cut in html and cut in text and long_subject.strip() not in text
    assert summary("  Noise\n every   night ") == "Noise every night"
