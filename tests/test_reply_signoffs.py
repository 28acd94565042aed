"""Sign-offs typed by hand that the outside writer's replies (tests/mail/replies/writer_r3)
showed, on snippets of other wording: a dash and a name in an Indic script right above a
client's footer, and a "Name | rank | station" line from a sender whose display name is
written "Surname, Name" without quotes."""

from __future__ import annotations

import pytest

from maildesk.mail.parse import _addresses, parse_mail
from maildesk.mail.quotes import typed_reply, visible_reply

QUOTE = ("-------- Original message --------\nFrom: Gariahat PS <gariahat.ps@example.in>\n"
         "Subject: [GRH-2612-0031] New complaint\n\nA new complaint has been registered.")


@pytest.mark.parametrize("name", ["- অমিত দত্ত", "– सुनीता यादव", "-राहुल", "~ Farhan Ali"])
@pytest.mark.parametrize("footer", ["Sent from my Galaxy", "Get Outlook for Android", ""])
def test_a_dash_and_a_name_above_a_footer_is_a_signature(name: str, footer: str) -> None:
    text = f"#progress CCTV of the lane collected.\n\n{name}\n\n{footer}\n\n{QUOTE}"
    assert visible_reply(text) == "#progress CCTV of the lane collected."


def test_a_dash_list_item_above_a_footer_stays() -> None:
    text = ("#progress Done today:\n- two witnesses examined\n- सीसीटीवी जमा\n\n"
            f"Sent from my Galaxy\n\n{QUOTE}")
    assert visible_reply(text) == ("#progress Done today:\n- two witnesses examined\n"
                                   "- सीसीटीवी जमा")


@pytest.mark.parametrize(("header", "name"), [
    ("Dutta, Amit <amit.dutta@example.in>", "Dutta, Amit"),
    ('"Dutta, Amit" <amit.dutta@example.in>', "Dutta, Amit"),
    ("Amit Dutta <amit.dutta@example.in>", "Amit Dutta"),
])
def test_a_display_name_written_surname_first(header: str, name: str) -> None:
    assert _addresses([header]) == [(name, "amit.dutta@example.in")]


def test_bare_addresses_keep_their_own_entries() -> None:
    assert _addresses(["a@example.in, b@example.in"]) == [("", "a@example.in"),
                                                          ("", "b@example.in")]


@pytest.mark.parametrize("block", [
    "Amit Dutta | SI | Gariahat Police Station\nKolkata Police | 98300 00000",
    "Amit Dutta, Sub-Inspector, Gariahat PS",
    "Amit Dutta / SI / Gariahat",
])
def test_the_senders_name_opening_a_rank_line_is_a_signature(block: str) -> None:
    raw = (f"From: Dutta, Amit <amit.dutta@example.in>\nTo: gariahat.ps@example.in\n"
           f"Subject: Re: [GRH-2612-0031] New complaint\nMessage-ID: <r1@example.in>\n"
           f"Content-Type: text/plain; charset=utf-8\n\n"
           f"#progress Spoke to the shopkeeper.\n\n{block}\n\n{QUOTE}\n").encode()
    assert typed_reply(parse_mail(raw)) == "#progress Spoke to the shopkeeper."


def test_a_line_naming_someone_else_stays() -> None:
    raw = (b"From: Dutta, Amit <amit.dutta@example.in>\nTo: gariahat.ps@example.in\n"
           b"Subject: Re: [GRH-2612-0031] New complaint\nMessage-ID: <r2@example.in>\n"
           b"Content-Type: text/plain; charset=utf-8\n\n"
           b"#progress Spoke to the shopkeeper.\n\nRina Das | witness | lane 4\n\n"
           + QUOTE.encode() + b"\n")
    assert typed_reply(parse_mail(raw)) == ("#progress Spoke to the shopkeeper.\n\n"
                                            "Rina Das | witness | lane 4")


@pytest.mark.parametrize("block", [
    "अनिल शर्मा\nसहायक उप निरीक्षक, गोमती नगर थाना",
    "সুব্রত পাল\nসাব-ইন্সপেক্টর, যাদবপুর থানা",
    "S.I. Meera Nair\nBandra Police Station\nMumbai Police",
    "Regards,\nTapas Ghosh\nASI, Jadavpur PS",
    "आपला,\nसंतोष पवार\nपो.उ.नि., वरळी",
    "स.पो.नि. गणेश काळे\nवरळी पोलीस ठाणे",
    "पो.उप.नि. रमेश शिंदे\nहडपसर पो.स्टे.\n९८२२० ००००१",
    "Inspector Joseph D'Souza\nVersova P.S.",
])
@pytest.mark.parametrize("footer", ["", "Sent on my BlackBerry® from Airtel",
                                    "This e-mail is sent from NIC eMail service. Please do not "
                                    "share your password with anyone."])
def test_a_name_and_rank_block_is_a_signature(block: str, footer: str) -> None:
    text = f"#progress Statement of the watchman recorded.\n\n{block}\n\n{footer}\n\n{QUOTE}"
    assert visible_reply(text) == "#progress Statement of the watchman recorded."


def test_a_name_and_rank_straight_under_the_text() -> None:
    text = f"#close Phone returned to the owner today.\nFarhan\nSI Bandra PS\n\n{QUOTE}"
    assert visible_reply(text) == "#close Phone returned to the owner today."


@pytest.mark.parametrize("tail", [
    "थाने में पूछताछ जारी\nकल कोर्ट भेजेंगे",  # no rank: the officer's own words
    "ASI Das will visit\nthe shop tomorrow",  # a rank in a sentence
    "Witnesses:\nRina Das\nSI Mondal's driver Abdul",
    "उप निरीक्षक शर्मा को सूचना दी है\nकल दोबारा जाएंगे",
])
def test_short_lines_of_the_officers_own_words_stay(tail: str) -> None:
    text = f"#progress Accused traced to Regent Park.\n\n{tail}\n\n{QUOTE}"
    assert visible_reply(text) == f"#progress Accused traced to Regent Park.\n\n{tail}"
