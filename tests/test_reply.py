"""maildesk.mail.quotes on real client replies (tests/mail/replies) and on targeted snippets."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from maildesk.mail.parse import parse_mail
from maildesk.mail.quotes import typed_reply, visible_reply
from maildesk.officer.commands import parse_commands

REPLIES = Path(__file__).parent / "mail" / "replies"
EXPECTED: dict[str, dict] = json.loads((REPLIES / "expected.json").read_text("utf-8"))
FIXTURES = sorted(p.name for p in REPLIES.glob("*.eml"))
CODE_IN_SUBJECT = re.compile(r"\[BHL-\d{4}-\d{4}\]")


def test_every_fixture_has_expectations() -> None:
    assert FIXTURES == sorted(EXPECTED)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture(name: str) -> None:
    expected = EXPECTED[name]
    mail = parse_mail((REPLIES / name).read_bytes())
    assert mail.error is None
    assert CODE_IN_SUBJECT.search(mail.subject)  # threading may be lost, the code is not
    visible = typed_reply(mail)
    assert visible.strip() == expected["visible"].strip()
    parsed = parse_commands(visible)
    got = [{"name": c.name, "arg": c.arg} for c in parsed.commands]
    assert got == expected["commands"]
    assert list(parsed.problems) == expected["problems"]
    assert parsed.note == expected["note"]


def test_lost_threading_fixture_has_no_references() -> None:
    mail = parse_mail((REPLIES / "lost_threading.eml").read_bytes())
    assert mail.in_reply_to == () and mail.references == ()


# --------------------------------------------------------------------------- quote headers

GMAIL_QUOTE = "\n> URGENT — act now: complaint BHL-2611-0007\n>   #close NOTE  close the complaint"


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Nov 23, 2026 at 10:05 AM Behala Police Station <behala.ps@example.in> wrote:",
        "On Mon, Nov 23, 2026 at 10:05:00AM +0530, Behala Police Station wrote:",  # mutt
        "On 23/11/26 10:05 am, Behala Police Station wrote:",  # Thunderbird
        "सोम, 23 नव॰ 2026, 10:05 am को Behala Police Station <\nbehala.ps@example.in> ने लिखा:",
        "सोम, २३ नोव्हें, २०२६, १०:०५ AM रोजी Behala Police Station <\n"
        "behala.ps@example.in> यांनी लिहिले:",  # Marathi
        "সোম, ২৩ নভেম্বর, ২০২৬, ১০:০৫ AM তারিখে Behala <\nbehala.ps@example.in> লিখেছেন:",
        "* Behala Police Station <behala.ps@example.in> [2026-11-23 10:05 +0530]:",
        "2026-11-23 10:05 GMT+05:30 Behala Police Station <behala.ps@example.in>:",  # unknown
    ],
)
def test_attribution_and_quote_removed(attribution: str) -> None:
    text = f"#close Phone recovered.\n\n{attribution}\n{GMAIL_QUOTE}"
    assert visible_reply(text) == "#close Phone recovered."


@pytest.mark.parametrize(
    "block",
    [
        "From: Behala PS <behala.ps@example.in>\nSent: Monday, November 23, 2026 10:05 AM\n"
        "To: si.das@example.in\nSubject: [URGENT] [BHL-2611-0007] x",
        "-----Original Message-----\nFrom: Behala PS\nSent: Monday\nSubject: x",
        "________________________________\nFrom: Behala PS\nSent: Monday",
        "प्रेषक: Behala PS <behala.ps@example.in>\nभेजा गया: सोमवार, 23 नवंबर 2026\nविषय: x",
        "থেকে: Behala PS <behala.ps@example.in>\nপাঠানো হয়েছে: সোমবার\nবিষয়: x",
        "---- On Mon, 23 Nov 2026 10:05:12 +0530 Behala PS <behala.ps@example.in> wrote ---",
    ],
)
def test_unquoted_thread_removed(block: str) -> None:
    # Outlook-style quoting has no ">": the notification's help lines would read as commands.
    text = f"#progress Team sent.\n\n{block}\n\nURGENT\n  #close NOTE  close the complaint\n"
    assert visible_reply(text) == "#progress Team sent."


def test_yahoo_android_attribution_followed_by_quote_on_same_line() -> None:
    text = (
        "#note Called the complainant.\n\nSent from Yahoo Mail on Android\n\n"
        "  On Mon, 23 Nov 2026 at 10:05, Behala PS<behala.ps@example.in> wrote:   URGENT\n"
        "  #close NOTE"
    )
    assert visible_reply(text) == "#note Called the complainant."


def test_greater_than_in_a_note_is_not_a_quote() -> None:
    text = "#progress\n>50 people gathered at the crossing.\nCrowd dispersed by 6 pm."
    assert visible_reply(text) == text


def test_quote_without_space_after_the_marker() -> None:
    text = "#close Done.\n\n>URGENT — act now\n>  #close NOTE"
    assert visible_reply(text) == "#close Done."


def test_long_reply_past_the_library_window() -> None:
    # The library is shown the first 20,000 characters; an Outlook block further down is
    # still cut, else the notification's "#close NOTE" help line would become a command.
    note = "\n".join(f"Statement line {i}: the witness saw a black motorcycle." for i in range(600))
    block = "From: Behala PS <behala.ps@example.in>\nSent: Monday\nTo: x\nSubject: y"
    text = f"#progress\n{note}\n\n{block}\n\nURGENT\n  #close NOTE  close the complaint"
    assert visible_reply(text) == f"#progress\n{note}"


def test_attribution_needs_a_time_or_address() -> None:
    # Prose that happens to start with "On" and say "wrote:" is not a quote header.
    text = "#progress\nOn Monday the complainant wrote: he saw the bike again.\nStill checking."
    assert visible_reply(text) == text


def test_officer_line_above_attribution_kept() -> None:
    text = (
        "#progress\n2 constables posted\n"
        "सोम, 23 नव॰ 2026, 10:05 am को Behala <\nbehala.ps@example.in> ने लिखा:\n> x"
    )
    assert visible_reply(text) == "#progress\n2 constables posted"


# --------------------------------------------------------------------------- bottom posting


def test_bottom_post_below_quote() -> None:
    text = "On 23/11/26 10:05 am, Behala PS wrote:\n> URGENT\n>   #close NOTE\n\n#close Done.\n"
    assert visible_reply(text) == "#close Done."


def test_nothing_typed_above_an_unmarked_quote_gives_nothing() -> None:
    # Below an Outlook block is the notification itself, never the officer's text.
    text = "From: Behala PS\nSent: Monday\nTo: x\nSubject: y\n\nURGENT\n#close NOTE\n"
    assert visible_reply(text) == ""


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nSI Arindam Mukherjee\nBehala PS",
        "Regards,\nSI Arindam Mukherjee\nBehala PS\nMob: 98300 11223",
        "Regards\nSI Das",
        "Thanks & Regards,\nRakesh Sharma\nSub-Inspector",
        "Thanks",
        "धन्यवाद\nउप-निरीक्षक राकेश शर्मा\nबेहाला थाना",
        "सादर,\nराकेश शर्मा",
        "ধন্যবাদ\nএসআই সুমন দাস\nবেহালা থানা",
        "Sent from my iPhone",
        "Sent from my Samsung Galaxy smartphone.",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Sent from Yahoo Mail on Android",
        "मेरे iPhone से भेजा गया",
    ],
)
def test_signature_removed(signature: str) -> None:
    assert visible_reply(f"#close Phone recovered.\n\n{signature}") == "#close Phone recovered."


@pytest.mark.parametrize(
    "text",
    [
        # a command after the would-be signature: never cut
        "#progress Team sent.\nRegards,\nSI Das\n#close Recovered.",
        "#progress Team sent.\n--\n#close Recovered.",
        "#progress Team sent.\nSent from my iPhone\n#close Recovered.",
        # a sign-off word opening a sentence is prose
        "#progress Team sent.\nThanks, the beat constable found the bike near the canal.\nOK",
        "#progress Team sent.\nThanks to the shopkeeper, we have the footage.",
        # a "sign-off" followed by a long paragraph is not a signature
        "#progress Team sent.\nRegards\n" + "\n".join(f"Line {i} of the report." for i in range(8)),
        # nothing above the sign-off: keep the whole reply
        "Thanks\nSI Das",
        # "Sent from my ..." as the start of a sentence, with text below
        "#progress Team sent.\nSent from my office: the FIR copy.\n"
        + "\n".join(f"Page {i} of the FIR was scanned and attached." for i in range(7)),
    ],
)
def test_signature_kept(text: str) -> None:
    assert visible_reply(text) == text


@pytest.mark.parametrize("last", ["- two witnesses examined", "-owner absent"])
def test_a_last_list_item_is_not_a_dash_name(last: str) -> None:
    text = f"#progress\nCCTV collected.\n{last}"
    assert visible_reply(text) == text


def test_hyphen_lists_are_not_signatures() -> None:
    text = "#progress\n- CCTV collected\n- Two witnesses examined\n-Owner absent"
    assert visible_reply(text) == text


# --------------------------------------------------------------------------- text hygiene


def test_indentation_kept_and_invisible_characters_dropped() -> None:
    # The typed text keeps its own indentation (lists); only the common margin goes.
    text = "\ufeff  #close\u00a0Phone recovered.\u200b  \r\n    second line\r\n"
    assert visible_reply(text) == "#close Phone recovered.\n  second line"


def test_indic_joiners_kept() -> None:
    text = "#নোট র\u200d্যাব ডাকা হয়েছে"  # ZWJ shapes the Bengali "rya"
    assert visible_reply(text) == text


@pytest.mark.parametrize("text", ["", "\n\n", "   ", ">", "> only a quote", "--"])
def test_degenerate_input(text: str) -> None:
    assert visible_reply(text) == ""


def test_multiline_note_kept_intact() -> None:
    text = "#progress\nFirst.\n\nSecond paragraph.\nThird line: details.\n\nFourth."
    assert visible_reply(text) == text


def test_long_and_hostile_input_is_fast() -> None:
    long_line = "On " + "x " * 200_000  # the library's "On ... wrote:" regex is quadratic
    many_lines = "\n".join(f"#progress line {i} of a very long note" for i in range(20_000))
    for text in (long_line, many_lines, "a" * 1_000_000, ">" * 100_000):
        started = time.monotonic()
        visible_reply(text)
        assert time.monotonic() - started < 3, text[:20]


# --------------------------------------------------------------------------- the desk's own mail

OWN = ("Your complaint BHL-2611-0007 was looked into by the beat officer today.\n"
       "We went to the spot.")


def _reply(body: str, html: str = "") -> bytes:
    kind = "html" if html else "plain"
    return (
        "From: SI Das <si.das@example.in>\r\nTo: bhl@example.in\r\n"
        "Subject: Re: [BHL-2611-0007] x\r\nMessage-ID: <r1@client.test>\r\n"
        "In-Reply-To: <update.BHL-2611-0007.0123456789ab@desk.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/{kind}; charset=utf-8\r\n\r\n{html or body}"
    ).encode()


def test_own_mail_from_the_outbox_marks_the_quote() -> None:
    # No ">" and a header in a language with no rule: only the outbox copy tells.
    body = f"#note Spoke to her again.\n\nJumatatu Behala PS aliandika\n{OWN}\n"
    asked: list[list[str]] = []

    def lookup(ids):
        asked.append(list(ids))
        return [OWN]

    mail = parse_mail(_reply(body))
    assert typed_reply(mail, lookup) == "#note Spoke to her again."
    assert asked == [["update.BHL-2611-0007.0123456789ab@desk.test"]]
    assert typed_reply(mail) == body.strip()  # without the outbox nothing marks it


def test_outbox_lookup_reads_the_stores_sent_mail(tmp_path) -> None:
    from maildesk.mail.own_mail import outbox_lookup
    from maildesk.store.db import Store

    store = Store(tmp_path)
    raw = f"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{OWN}\r\n".encode()
    with store.transaction():
        store.queue_mail(message_id="update.BHL-2611-0007.0123456789ab@desk.test", kind="update",
                         station="BHL", mail_from="bhl@example.in", rcpt_to=["r@x.in"], raw=raw)
    lookup = outbox_lookup(store.sent_mail)
    assert lookup(["other@x", "update.BHL-2611-0007.0123456789ab@desk.test"]) == [OWN]
    assert lookup(["unknown@x"]) == []


def test_a_typed_sentence_right_above_the_own_mail_stays() -> None:
    text = f"#note Spoke to her.\n\nShe will come tomorrow.\n{OWN}"
    mail = parse_mail(_reply(text))
    assert typed_reply(mail, lambda ids: [OWN]) == "#note Spoke to her.\n\nShe will come tomorrow."


def test_desk_template_lines_mark_a_pasted_notification() -> None:
    text = ("#close Recovered.\n\nURGENT — act now: complaint BHL-2611-0007 at Behala PS\n"
            "Received: 23 Nov 2026 10:04\nReply to this mail to act. Write commands at the top "
            "of your reply, one per line:\n  #close NOTE             close the complaint\n")
    assert visible_reply(text) == "#close Recovered."


# --------------------------------------------------------------------------- HTML containers

QUOTE_HTML = "<div>URGENT</div><div>#close NOTE close the complaint</div>"


@pytest.mark.parametrize(
    "container",
    [
        f'<div class="gmail_quote"><div class="gmail_attr">x yazdı:</div>'
        f'<blockquote class="gmail_quote">{QUOTE_HTML}</blockquote></div>',
        f'<blockquote type="cite">{QUOTE_HTML}</blockquote>',
        f'<div class="moz-cite-prefix">Am 23.11.2026 schrieb X:</div><blockquote>{QUOTE_HTML}'
        "</blockquote>",
        f'<div id="yahoo_quoted_77" class="yahoo_quoted">{QUOTE_HTML}</div>',
        f'<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg"><b>From:</b> X'
        f"</div>{QUOTE_HTML}",
        f'<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in">'
        f"<b>From:</b> X</div>{QUOTE_HTML}",
        f'<span id="OLK_SRC_BODY_SECTION"><b>From: </b>X{QUOTE_HTML}</span>',
        f'<hr id="zwchr"><div data-marker="__QUOTED_TEXT__">{QUOTE_HTML}</div>',
    ],
)
def test_html_reply_cut_at_the_clients_quote_container(container: str) -> None:
    markup = f"<html><body><div>#progress Team sent.</div><div><br></div>{container}</body></html>"
    assert typed_reply(parse_mail(_reply("", markup))) == "#progress Team sent."


def test_html_without_a_container_is_read_whole() -> None:
    markup = "<html><body><p>#progress Team sent.</p><p>Second line.</p></body></html>"
    assert typed_reply(parse_mail(_reply("", markup))) == "#progress Team sent.\n\nSecond line."


@pytest.mark.parametrize("markup", ["", "<", "<html><body></body></html>", "<b>" * 5000])
def test_broken_html_does_not_crash(markup: str) -> None:
    typed_reply(parse_mail(_reply("x", markup or "<p></p>")))


# --------------------------------------------------------------------------- issue 12 shapes


@pytest.mark.parametrize(
    "header",
    [
        "Am 13.12.2017 21:11 schrieb Behala PS <bhl@example.in>:",
        "Op 12 december 2016 19:05 schreef Behala PS <bhl@example.in>:",
        "Il giovedì 8 dicembre 2016, Behala PS <bhl@example.in> ha scritto:",
        "Em 10 de julho de 2017 às 16:32:35, Behala PS (bhl@example.in) escreveu:",
        "ср, 30 апр. 2025 г. в 15:19, Behala PS <bhl@example.in>:",
        "tir. 18. apr. 2017 kl. 13:09 skrev Behala PS <bhl@example.in>:",
        "pe 20. lokakuuta 2017 klo 17.50 Behala PS (bhl@example.in) kirjoitti:",
        "In data 11 ottobre 2017 10:05, Behala PS <bhl@example.in> ha scritto:",
    ],
)
def test_quote_headers_in_other_languages(header: str) -> None:
    text = f"#close Phone recovered.\n\n{header}\n\n> URGENT\n> #close NOTE"
    assert visible_reply(text) == "#close Phone recovered."


@pytest.mark.parametrize(
    "block",
    [
        "-----Ursprüngliche Nachricht-----\nVon: Behala PS\nGesendet: Montag\nAn: x\nBetreff: y",
        "-----Oprindelig meddelelse-----\nFra: Behala PS\nSendt: 23. nov\nTil: x\nEmne: y",
        "-------- Message d'origine --------\nDe : Behala PS\nDate : 23/11/2026\nÀ : x",
        "-----Reply Message-----\nFrom: Behala PS\nTo: x",
        "От: Behala PS <bhl@example.in>\nОтправлено: 23 ноября 2026 г. 10:05\nКому: x",
        "*From:* Behala PS <bhl@example.in>\n*Sent:* Monday, 23 November 2026\n*To:* x",
        "From: Behala Police Station\n[mailto:bhl@example.in]\nSent: Monday\nTo: x",
        "---- Behala PS wrote ----",
        "----- Original Message -----\nFrom: \"Behala PS\" <bhl@example.in>\nTo: x\nSent: Mon",
    ],
)
def test_separators_and_header_blocks(block: str) -> None:
    text = f"#progress Team sent.\n\n{block}\n\nURGENT\n#close NOTE  close the complaint\n"
    assert visible_reply(text) == "#progress Team sent."


@pytest.mark.parametrize(
    "footer",
    ["Sent from TypeApp", "Envoyé à partir de Outlook pour iOS<https://aka.ms/o0ukef>",
     "Gesendet von Outlook für Android<https://aka.ms/ghei36>", "-Ravi",
     "Sent from my BlackBerry® smartphone on Airtel",
     "--\nYou received this message because you are subscribed to the Google Groups x group."],
)
def test_footers_and_sign_offs_dropped(footer: str) -> None:
    assert visible_reply(f"#close Phone recovered.\n\n{footer}") == "#close Phone recovered."


def test_a_route_in_a_note_is_not_a_header_block() -> None:
    text = "#progress Patrol route tonight:\nFrom: Behala Chowrasta\nTo: Thakurpukur market"
    assert visible_reply(text) == text


def test_a_sentence_starting_with_sent_from_stays() -> None:
    text = "#progress Team sent.\n\nSent from my desk, is much easier than my mobile phone."
    assert visible_reply(text) == text


def test_list_indentation_kept() -> None:
    text = "#progress So far:\n  1. Market - not found\n  2. Depot - not found\nNext: Majerhat."
    assert visible_reply(text) == text


def test_a_residents_letter_is_not_taken_for_the_desks_mail() -> None:
    # The desk's templates greet and sign off too; those words are anyone's.
    text = "Dear Sir/Madam,\nThe men came back last night.\nYours faithfully,\nRina Pal"
    assert visible_reply(text).startswith("Dear Sir/Madam,\nThe men came back last night.")


# --------------------------------------------------------------------------- later shapes


@pytest.mark.parametrize(
    "footer",
    ["Sent with [Proton Mail](https://proton.me/mail/home) secure email.",
     "Get Outlook for Android (https://aka.ms/AAb9ysg)",
     "Sent via Superhuman ( https://sprh.mn/?vip=x )",
     "Android पर Yahoo Mail से भेजा गया", "मेरे Galaxy स्मार्टफ़ोन से भेजा गया",
     "আমার Samsung Galaxy স্মার্টফোন থেকে পাঠানো হয়েছে।", "माझ्या iPhone वरून पाठवले",
     "Sent via the Samsung Galaxy S8, an AT&T 4G LTE smartphone", "发自我的iPhone",
     "iPhone에서 보냄", "iPhone'umdan gönderildi", "Dikirim dari iPhone saya",
     "Gửi từ iPhone của tôi", "Надіслано з iPhone"],
)
def test_client_footers_with_links_and_in_indian_languages(footer: str) -> None:
    assert visible_reply(f"#close Phone recovered.\n\n{footer}") == "#close Phone recovered."


@pytest.mark.parametrize(
    "line",
    ["फोटो व्हाट्सएप से भेजा गया", "Sent from the spot by SI Paul, he has no desk login.",
     "Tak", "Gửi từ nhà của tôi lúc 5 giờ chiều nay, xin lỗi vì trễ."],
)
def test_a_typed_last_line_that_looks_like_a_footer_stays(line: str) -> None:
    text = f"#progress Photos of the scooter received.\n\n{line}"
    assert visible_reply(text) == text


@pytest.mark.parametrize(
    "signoff",
    ["Terima kasih,\nDewi", "Med vänliga hälsningar\nErik", "Muchas gracias,\nLucía",
     "धन्यवाद सहित,\nतनुश्री घोष", "Dziękuję,\nMarta Nowak", "Mvh\nOle Hansen"],
)
def test_sign_offs_in_other_languages(signoff: str) -> None:
    assert visible_reply(f"The chain was gold, 12 grams.\n\n{signoff}") == (
        "The chain was gold, 12 grams.")


def test_a_disclaimer_and_the_signature_above_it_are_cut() -> None:
    text = ("#progress Raid at 6 pm.\n\nRegards,\nArup Sen\nSI, Behala PS\n\n"
            "DISCLAIMER: This e-mail and any attachment are confidential and meant only for "
            "the addressee.")
    assert visible_reply(text) == "#progress Raid at 6 pm."


def test_a_command_below_a_disclaimer_like_line_is_kept() -> None:
    text = "Notice: the market is closed on Monday.\n#progress Team sent on Tuesday instead."
    assert visible_reply(text) == text


def test_a_line_quoted_inside_a_note_is_kept() -> None:
    note = ("#progress About the helmet she now says:\n> blue with a white stripe\n"
            "That matches the CCTV.")
    text = f"{note}\n\nOn Thu, 3 Dec 2026 at 09:13, Behala PS <bhl@example.in> wrote:\n> URGENT"
    assert visible_reply(text) == note


def test_a_quote_without_attribution_under_the_note_is_still_the_thread() -> None:
    text = "#progress Team sent.\n> URGENT complaint BHL-2612-0007\n> Received: 3 Dec 2026"
    assert visible_reply(text) == "#progress Team sent."
    long_quote = "\n".join(f"> line {n} of the notification" for n in range(6))
    assert visible_reply(f"#note Seen.\n{long_quote}\nThanks for the mail.") == "#note Seen."


def test_a_greeting_above_a_bottom_posted_answer_keeps_the_answer() -> None:
    text = ("Hi,\nOn Tue, 1 Dec 2026 at 18:02, Behala PS <bhl@example.in> wrote:\n> Was it red?\n\n"
            "Yes, a red Activa.\n\n> Behala PS")
    assert visible_reply(text) == "Hi,\n\nYes, a red Activa."
    # A greeting and a sentence above the quote: a top-poster, the quote is left out.
    top = ("Hi,\nYes, a red Activa.\n\n"
           "On Tue, 1 Dec 2026, Behala PS <bhl@example.in> wrote:\n> x\n\ny")
    assert visible_reply(top) == "Hi,\nYes, a red Activa."


@pytest.mark.parametrize(
    "block",
    ["发件人: John <john@example.com>\n发送时间: 2017年12月13日 21:11\n收件人: x\n主题: y",
     "보낸 사람: John <john@example.com>\n보낸 날짜: 2017년 12월 13일\n받는 사람: x\n제목: y",
     "Kimden: John <john@example.com>\nGönderildi: 13 Aralık 2017\nKime: x\nKonu: y",
     "Dari: John <john@example.com>\nDikirim: 13 Desember 2017\nKepada: x\nSubjek: y",
     "Від: John <john@example.com>\nНадіслано: 13 грудня 2017 р.\nКому: x\nТема: y",
     "-----Původní zpráva-----", "-------- 原始邮件 --------", "-------- Αρχικό μήνυμα --------",
     "-------- মূল বার্তা --------", "-------- Pesan asli --------"],
)
def test_header_blocks_and_separators_of_more_languages(block: str) -> None:
    text = f"Typed answer.\n\n{block}\n\nOld text line one\nOld text line two"
    assert visible_reply(text) == "Typed answer."


def test_a_dashed_heading_in_a_note_is_not_a_separator() -> None:
    text = "#progress\n---- Summary ----\nTwo witnesses examined.\nCCTV copied."
    assert visible_reply(text) == text


@pytest.mark.parametrize(
    "markup",
    ['<div>#progress Team sent.</div><div class="gmail_signature">Arup Sen<br>SI, Behala PS'
     '</div><div class="gmail_quote">On Mon, X wrote:<blockquote>old</blockquote></div>',
     '<div>#progress Team sent.</div><pre class="moz-signature">Arup Sen</pre>',
     '<div>#progress Team sent.</div><blockquote id="qt">old</blockquote>',
     '<div>#progress Team sent.</div><div id="_persistentHeader">From: X</div><p>old</p>'],
)
def test_html_signatures_and_more_quote_containers(markup: str) -> None:
    assert typed_reply(parse_mail(_reply("", markup))) == "#progress Team sent."


def test_an_intro_then_answers_between_the_quoted_questions() -> None:
    text = ("Answers below.\n\nOn Tue, 1 Dec 2026 at 18:02, Behala PS <bhl@example.in> wrote:\n"
            "> What time?\n\nAbout 9:05.\n\n> Anyone else?\n\nMy neighbour.\n\n> Behala PS")
    assert visible_reply(text) == "Answers below.\n\nAbout 9:05.\n\nMy neighbour."
    # Text only after the last ">" line (a signature placed under the quote) is not answers.
    below = "Team sent.\n\nOn Tue, 1 Dec 2026, Behala PS <bhl@example.in> wrote:\n> x\n\nArup Sen"
    assert visible_reply(below) == "Team sent."
