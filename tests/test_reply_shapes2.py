"""The shapes of tests/mail/replies/shapes2 on snippets of other wording: attributions without
a colon (Rediffmail), notices framed by lines of one mark (NIC), typed line breaks in a
format=flowed mail (Thunderbird), and "Sent from ..." lines that are sentences."""

from __future__ import annotations

import pytest

from maildesk.mail.parse import parse_mail
from maildesk.mail.quotes import typed_reply, visible_reply
from maildesk.officer.commands import parse_commands

NOTICE = ("URGENT — act now: complaint TLG-2612-0042 at Tollygunge Police Station\n"
          "Reply to this mail to act. Write commands at the top of your reply, one per line:\n"
          "  #close NOTE             close the complaint\n"
          "  #transfer STATION       transfer to another police station")


# --------------------------------------------------------------------------- no colon


@pytest.mark.parametrize(
    "attribution",
    ["On Fri, 04 Dec 2026 18:02:09 +0530 Tollygunge PS desk wrote",
     'On 04-Dec-2026 18:02, "OC Tollygunge" <oc.tollygunge@example.in> wrote',
     'On 04-Dec-2026 18:02, "Tollygunge Police Station (Kolkata Police)"\n'
     "<tollygunge.ps@example.in> wrote",
     "On Fri, 4 Dec 2026 at 6:02 pm, OC Tollygunge <oc.tollygunge@example.in> wrote"],
)
@pytest.mark.parametrize("marked", [True, False])
def test_an_attribution_without_a_colon_starts_the_quote(attribution: str, marked: bool) -> None:
    quote = "\n".join(("> " if marked else "") + line for line in NOTICE.splitlines())
    text = f"#progress Accused traced to Regent Park.\n\n{attribution}\n\n{quote}"
    typed = visible_reply(text)
    assert typed == "#progress Accused traced to Regent Park."
    # The help lines of the quoted notification are never read as commands.
    assert [c.name for c in parse_commands(typed).commands] == ["progress"]


def test_a_sentence_ending_in_wrote_that_goes_on_stays() -> None:
    text = ("#note On 2 Dec at 10:15 the complainant's son wrote\n"
            "to the DCP as well; copy with the IO.")
    assert visible_reply(text) == text


def test_a_bottom_post_under_an_attribution_without_a_colon() -> None:
    quote = "\n".join("> " + line for line in NOTICE.splitlines())
    text = f"On Fri, 04 Dec 2026 18:02:09 +0530 Tollygunge PS desk wrote\n{quote}\n\n#close Done."
    assert visible_reply(text) == "#close Done."


# --------------------------------------------------------------------------- framed notices

FRAMED = ("{mark}\n"
          "Yeh sandesh keval prapt karta ke liye hai. Iska anya upyog varjit hai.\n"
          "Bhool se mila ho to kripya bhejne wale ko suchit karein.\n"
          "{mark}")


@pytest.mark.parametrize("mark", ["*" * 30, "=" * 64, "#" * 12, "~" * 20])
def test_a_framed_notice_under_the_typed_text_is_cut(mark: str) -> None:
    text = (f"#close Stolen cycle returned to the owner.\n\nWith regards\nS. Basu\n\n"
            f"{FRAMED.format(mark=mark)}\n\n----- Original Message -----\n"
            "From: \"Tollygunge PS\" <tollygunge.ps@example.in>\nSent: Friday, December 4, 2026\n")
    assert visible_reply(text) == "#close Stolen cycle returned to the owner."


def test_a_frame_above_a_notice_that_names_itself_goes_with_it() -> None:
    text = ("#note Seizure list signed.\n\n" + "*" * 40
            + "\nDisclaimer: this mail is for official use only.\n")
    assert visible_reply(text) == "#note Seizure list signed."


@pytest.mark.parametrize(
    "text",
    [
        # An officer's emphasis: one line inside the frame.
        "#note\n**********\nWitness will come at 5 pm\n**********",
        # Typed text below the framed block: it is the officer's, not the server's.
        "#note Two points:\n**********\nthe cycle is blue\nthe lock was cut\n**********\n"
        "Please check with the shop.",
    ],
)
def test_framed_text_that_is_typed_stays(text: str) -> None:
    assert visible_reply(text) == text


# --------------------------------------------------------------------------- format=flowed


def _mail(body: str, content_type: str, agent: str = "Mozilla Thunderbird") -> str:
    raw = ("From: SI Basu <si.basu@example.in>\nTo: tollygunge.ps@example.in\n"
           "Subject: Re: [TLG-2612-0042] Cycle stolen\nMIME-Version: 1.0\n"
           f"User-Agent: {agent}\nContent-Type: {content_type}\n"
           "Content-Transfer-Encoding: 8bit\n\n" + body)
    return typed_reply(parse_mail(raw.replace("\n", "\r\n").encode("utf-8")))


QUOTE = "On 04/12/26 6:02 pm, Tollygunge PS desk wrote:\n> " + NOTICE.replace("\n", "\n> ")
LONG = "The shop at Regent Park says the cycle was sold to them on Tuesday evening"  # 74


def test_typed_breaks_in_a_flowed_mail_are_kept() -> None:
    body = f"{LONG}\nby a boy of about sixteen.\n\n{QUOTE}\n"
    assert _mail(body, "text/plain; charset=UTF-8; format=flowed") == (
        f"{LONG}\nby a boy of about sixteen.")


@pytest.mark.parametrize(
    ("body", "delsp"),
    [(f"{LONG} \nby a boy of about sixteen.\n", ""),
     (f"{LONG}  \nby a boy of about six \nteen.\n", "; DelSp=yes")],
)
def test_soft_breaks_in_a_flowed_mail_are_joined(body: str, delsp: str) -> None:
    got = _mail(f"{body}\n{QUOTE}\n", f"text/plain; charset=UTF-8; format=flowed{delsp}")
    assert got == f"{LONG} by a boy of about sixteen."


def test_a_wrapped_command_line_in_a_flowed_mail_is_joined() -> None:
    body = (f"#progress {LONG[:60]} \nsold on Tuesday evening.\nComplainant informed.\n\n"
            f"{QUOTE}\n")
    assert _mail(body, "text/plain; charset=UTF-8; format=flowed") == (
        f"#progress {LONG[:60]} sold on Tuesday evening.\nComplainant informed.")


def test_thunderbird_without_format_flowed_is_still_unwrapped() -> None:
    body = f"{LONG}\nby a boy of about sixteen.\n\n{QUOTE}\n"
    assert _mail(body, "text/plain; charset=UTF-8") == f"{LONG} by a boy of about sixteen."


# --------------------------------------------------------------------------- "Sent from"


@pytest.mark.parametrize(
    "line",
    ["Sent from home after night duty.", "Sent from Regent Park outpost on the way back",
     "Sent from the station jeep, will call later.", "Sent with two constables to the shop."],
)
def test_a_sent_from_sentence_as_the_last_line_stays(line: str) -> None:
    text = f"#progress Cycle found.\n{line}"
    assert visible_reply(text) == text
    assert visible_reply(f"{text}\n\nSent from my iPhone") == text


@pytest.mark.parametrize(
    "footer",
    ["Sent from Outlook Mobile", "Sent from Mail for Windows 10", "Sent from Yahoo Mail on Android",
     "Sent from BlueMail", "Sent with Spark", "Sent using Zoho Mail", "Sent from iPad"],
)
def test_client_footers_naming_a_product_are_cut(footer: str) -> None:
    assert visible_reply(f"#progress Cycle found.\n\n{footer}") == "#progress Cycle found."


# --------------------------------------------------------------------------- localised footers


@pytest.mark.parametrize(
    "footer",
    ["Android के लिए Outlook प्राप्त करें", "iOS এর জন্য Outlook পান", "Android साठी Outlook मिळवा",
     "iOS के लिए Outlook डाउनलोड करें।"],
)
def test_a_localised_get_outlook_footer_is_cut(footer: str) -> None:
    text = (f"#progress Team at Joka.\n\n{footer}\n" + "_" * 32
            + "\nप्रेषक: Tollygunge PS <tollygunge.ps@example.in>\nविषय: Cycle stolen\n\nhello")
    assert visible_reply(text) == "#progress Team at Joka."


@pytest.mark.parametrize("line", ["फोटो Gmail पर भेज दी है", "Outlook नहीं खुल रहा, Gmail से भेजा"])
def test_a_typed_indian_language_line_naming_one_client_stays(line: str) -> None:
    text = f"#progress Photos of the cycle received.\n{line}"
    assert visible_reply(text) == text


def test_outlook_mobile_marks_its_html_signature() -> None:
    raw = ("From: SI Basu <si.basu@example.in>\nTo: tollygunge.ps@example.in\n"
           "Subject: Re: [TLG-2612-0042] Cycle stolen\nMIME-Version: 1.0\n"
           "Content-Type: text/html; charset=utf-8\n\n"
           '<html><body><div dir="auto">#close Cycle returned.</div>'
           '<div id="ms-outlook-mobile-signature" dir="auto">Android ke liye '
           '<a href="https://aka.ms/x">Outlook</a> paayein</div>'
           '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg">'
           "<b>From:</b> Tollygunge PS</div><div>#transfer NOTE</div></body></html>")
    assert typed_reply(parse_mail(raw.encode("utf-8"))) == "#close Cycle returned."
