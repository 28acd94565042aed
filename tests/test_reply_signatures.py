"""An officer's own signature, learned from their earlier replies (maildesk.mail.signatures,
Store.officer_reply_texts, quotes.typed_reply's ``earlier_replies``)."""

from __future__ import annotations

from conversation import OFFICER, RESIDENT

from maildesk.mail.parse import parse_mail
from maildesk.mail.quotes import typed_reply
from maildesk.store.db import Store

SIGNATURE = "A. Hossain\nSI, Gariahat PS | Kolkata Police | +91 98310 44217"
QUOTE = "\n\nOn Tue, 24 Nov 2026 at 16:06, Gariahat PS <gariahat.ps@example.in> wrote:\n> URGENT"


def _reply(body: str) -> str:
    return body + QUOTE


def _typed(body: str, earlier: list[str]) -> str:
    raw = ("From: si.hossain@example.in\nTo: gariahat.ps@example.in\n"
           "Subject: Re: [GRH-2611-0008] Bike stolen\nContent-Type: text/plain; charset=utf-8\n\n"
           + _reply(body)).encode()
    return typed_reply(parse_mail(raw), None, earlier)


EARLIER = [_reply(f"#progress Step {n} done.\n\n{SIGNATURE}") for n in range(3)]


def test_a_signature_two_earlier_replies_end_with_is_cut() -> None:
    assert _typed(f"#note CCTV copied.\n\n{SIGNATURE}", EARLIER) == "#note CCTV copied."
    # With a sign-off above it, and in a reply that quotes nothing.
    assert _typed(f"#note CCTV copied.\n\nRegards,\n{SIGNATURE}", EARLIER) == "#note CCTV copied."


def test_without_earlier_replies_the_unknown_block_stays() -> None:
    assert _typed(f"#note CCTV copied.\n\n{SIGNATURE}", []) == f"#note CCTV copied.\n\n{SIGNATURE}"
    # One earlier reply is not enough to call a block a signature.
    assert _typed(f"#note CCTV copied.\n\n{SIGNATURE}", EARLIER[:1]).endswith("44217")


def test_a_reply_that_is_only_the_block_or_ends_otherwise_keeps_its_text() -> None:
    assert _typed(SIGNATURE, EARLIER) == SIGNATURE  # nothing typed above it: not cut
    other = "#note CCTV copied.\n\nA. Hossain\nSI, on leave from Monday"
    assert _typed(other, EARLIER) == other


def test_lines_every_reply_ends_with_that_are_commands_or_sentences_typed_each_time() -> None:
    earlier = [_reply("Seen.\n#close Recovered."), _reply("Noted.\n#close Recovered.")]
    assert _typed("Checked.\n#close Recovered.", earlier) == "Checked.\n#close Recovered."
    # "Sent from" in a sentence is typed text, learned or not.
    sentence = "Sent from the spot by SI Paul, he has no desk login."
    assert _typed(f"#note Seen.\n\n{sentence}", []) == f"#note Seen.\n\n{sentence}"


def test_store_gives_the_officers_last_replies_newest_first(tmp_path) -> None:
    store = Store(tmp_path)
    try:
        for n, (sender, kind) in enumerate([(OFFICER, "officer"), (RESIDENT, "new"),
                                            (OFFICER, "officer"), (OFFICER, "refused"),
                                            ("si.other@maildesk.test", "officer")]):
            store.add_message(station="BHL", dedupe_key=f"k{n}", sha256="0" * 64, size=1,
                              from_addr=sender, text=f"text {n}", kind=kind)
        assert store.officer_reply_texts(OFFICER) == ["text 2", "text 0"]
        assert store.officer_reply_texts(OFFICER, limit=1) == ["text 2"]
        assert store.officer_reply_texts(OFFICER, scan=3) == ["text 2"]  # only the last 3 rows
        assert store.officer_reply_texts("nobody@maildesk.test") == []
    finally:
        store.close()


def test_the_officers_signature_is_left_out_of_the_note_through_the_real_flow(conversation):
    _, notification = conversation.report()
    signature = "Arup Sen\nSI, Behala PS | 033 2445 0000 | Kolkata Police, Behala Division"
    for note in ("#note Spoke to the jeweller.", "#note CCTV of the crossing copied."):
        conversation.reply(OFFICER, notification, f"{note}\n\n{signature}")
        conversation.poll()
    conversation.reply(OFFICER, notification, f"#note Suspect seen at Joka.\n\n{signature}")
    conversation.poll()
    store = conversation.store()
    try:
        notes = [e["detail"] for e in store.events(conversation.complaint()["id"])
                 if e["action"] == "note"]
    finally:
        store.close()
    texts = [str(detail) for detail in notes]
    assert len(texts) == 3, notes
    assert "Arup Sen" in texts[0] and "Arup Sen" in texts[1]  # not learned yet
    assert "Suspect seen at Joka" in texts[2] and "Arup Sen" not in texts[2]
