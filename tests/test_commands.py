"""maildesk.officer.commands: the grammar of the commands at the top of an officer's reply."""

from __future__ import annotations

import pytest

from maildesk.officer.commands import CANONICAL, COMMANDS, Command, Parsed, parse_commands


def names(parsed: Parsed) -> list[tuple[str, str]]:
    return [(c.name, c.arg) for c in parsed.commands]


def one(text: str) -> Command:
    parsed = parse_commands(text)
    assert len(parsed.commands) == 1, parsed
    assert parsed.problems == ()
    return parsed.commands[0]


# --------------------------------------------------------------------------- aliases, case, #


def test_every_alias_maps_to_a_canonical_name() -> None:
    assert set(COMMANDS.values()) == set(CANONICAL)
    assert set(CANONICAL) == {
        "progress", "note", "incomplete", "close", "urgent", "semi", "routine",
        "transfer", "forward", "assign", "duplicate",
    }  # fmt: skip


@pytest.mark.parametrize("alias", sorted(COMMANDS))
def test_every_alias_with_hash(alias: str) -> None:
    arg = "BHL-2611-0007" if COMMANDS[alias] == "duplicate" else "LKT"
    assert one(f"#{alias} {arg}") == Command(COMMANDS[alias], arg, 1)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("#CLOSE", "close"),
        ("#Close", "close"),
        ("# close", "close"),
        ("＃close", "close"),  # full-width, from Indic phone keyboards
        ("#In-Progress", "progress"),
        ("#Semi-Urgent", "semi"),
        ("#NON-URGENT", "routine"),
        ("#बंद", "close"),
        ("#प्रगति", "progress"),
        ("#ज़रूरी", "urgent"),  # with nukta
        ("#जरूरी", "urgent"),  # without
        ("#বন্ধ", "close"),
        ("#জরুরী", "urgent"),
        ("#নোট", "note"),
    ],
)
def test_case_and_spelling_variants(text: str, name: str) -> None:
    assert one(text).name == name


@pytest.mark.parametrize(
    ("text", "arg"),
    [
        ("#close recovered the phone", "recovered the phone"),
        ("#close: recovered the phone", "recovered the phone"),
        ("#close - recovered the phone", "recovered the phone"),
        ("#close — recovered the phone", "recovered the phone"),
        ("#close.", ""),
        ("#close\u00a0recovered", "recovered"),
        ("#बंद। फ़ोन मिल गया", "फ़ोन मिल गया"),
    ],
)
def test_separators(text: str, arg: str) -> None:
    assert one(text).arg == arg


# --------------------------------------------------------------------------- bare words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("close: recovered the phone", [("close", "recovered the phone")]),
        ("Progress - team sent", [("progress", "team sent")]),
        ("Closed", [("close", "")]),
        ("Urgent\nProgress: team sent", [("urgent", ""), ("progress", "team sent")]),
        ("#urgent\nProgress - team sent", [("urgent", ""), ("progress", "team sent")]),
        ("বন্ধ: ফোন উদ্ধার", [("close", "ফোন উদ্ধার")]),
        # one-line replies with an argument that proves the intent
        ("Transfer LKT", [("transfer", "LKT")]),
        ("duplicate BHL-2611-0004", [("duplicate", "BHL-2611-0004")]),
        ("assign asi.ghosh@kolkatapolice.example", [("assign", "asi.ghosh@kolkatapolice.example")]),
    ],
)
def test_bare_command_words_at_the_top(text: str, expected: list[tuple[str, str]]) -> None:
    parsed = parse_commands(text)
    assert names(parsed) == expected
    assert parsed.problems == ()


@pytest.mark.parametrize(
    "text",
    [
        "the shop is close to the station",
        "Close to the station there is a CCTV camera.",
        "Close",  # a bare word in a longer reply, below prose
        "Progress is slow, the witness is out of town.",
        "Urgent! Please send the beat officer.",
        "Note that the complainant called again.",
        "Transfer of the case will be discussed.",
        "transfer the file to the OC",  # one line, but "the file..." is no station code
        "duplicate entry in the register",
        "Info: the complainant's number is wrong",  # "info" needs its "#"
        "Spoke to the complainant.\nclose: recovered",  # below prose: no longer the top
        "#45 Diamond Harbour Road",  # a house number
        "#B-12, Sarsuna Housing",
        "C#: no idea",
    ],
)
def test_prose_is_not_a_command(text: str) -> None:
    text = text if "\n" in text or text != "Close" else "Spoke to him.\nClose"
    parsed = parse_commands(text)
    assert parsed.commands == ()
    assert parsed.problems == ()
    assert parsed.note == text


LATE = ("was not carried out: commands count only in one block at the very top of the reply, "
        "one per line, not indented")


@pytest.mark.parametrize(
    "text",
    [
        "Spoke to the complainant.\n#close recovered",
        "Sir,\n#close recovered",  # a salutation is a line that is not a command
        "Respected Sir,\nAs discussed:\n#close recovered",
        "Spoke to her.\n  she is out of town\n#close recovered",
    ],
)
def test_a_command_below_the_first_other_line_is_not_carried_out(text: str) -> None:
    parsed = parse_commands(text)
    assert parsed.commands == ()
    assert parsed.problems == (f"#close (line {text.count(chr(10)) + 1}) {LATE}",)
    assert parsed.note == text  # kept whole, as the message


@pytest.mark.parametrize(
    "quote",
    [
        "URGENT — act now: complaint BHL-2611-0007 at Behala\nResident: x@y.in\n"
        "#transfer LKT\n#close NOTE close the complaint",
        "SEMI-URGENT: complaint BHL-2611-0007 at Behala\n#forward KMC",
        "Complaint BHL-2611-0007: Chain snatched\n#close NOTE, #note TEXT",
    ],
)
def test_a_notification_pasted_without_quote_marks_adds_nothing(quote: str) -> None:
    """Its heading is never a bare command ("SEMI-URGENT:"), its lines never join the
    officer's note to the resident, and its help lines are not reported as late commands."""
    assert parse_commands(quote) == Parsed((), (), quote)
    parsed = parse_commands(f"#progress constable will visit tonight\n\n{quote}")
    assert parsed.commands == (Command("progress", "constable will visit tonight", 1),)
    assert parsed.problems == ()
    parsed = parse_commands(f"#urgent\n{quote}")
    assert parsed.commands == (Command("urgent", "", 1),)


@pytest.mark.parametrize(
    "text",
    ["  #close recovered", "\t#close recovered", "\u00a0#close recovered", " close: recovered"],
)
def test_an_indented_line_is_never_a_command(text: str) -> None:
    parsed = parse_commands(text)
    assert parsed.commands == ()


@pytest.mark.parametrize(
    "line",
    [
        "#close NOTE             close the complaint",
        "#progress NOTE          record progress (status: in process); NOTE goes to the resident",
        "#incomplete WHAT        ask the resident for what is needed",
        "#urgent / #semi / #routine    change the urgency",
        "#transfer STATION       transfer to another police station",
        "#forward AGENCY         forward to another agency",
        "#assign OFFICER         assign to an officer",
        "#duplicate CODE         mark as a duplicate of complaint CODE",
        "#progress NOTE, #note TEXT, #incomplete WHAT, #close NOTE, #assign OFFICER",
        "#close WHAT WAS DONE",
    ],
)
def test_the_desks_own_help_lines_are_never_commands(line: str) -> None:
    """Even as the very first line, unindented: a client that strips the quote's indentation
    and its ">" cannot send the desk's help back as commands."""
    assert parse_commands(line).commands == ()
    assert parse_commands(f"#urgent\n{line}").commands == (Command("urgent", "", 1),)


# --------------------------------------------------------------------------- arguments


def test_multiline_text_of_the_last_command() -> None:
    text = "#urgent\n\n#progress\nVisited the spot.\n- CCTV collected\n\nWitness examined."
    parsed = parse_commands(text)
    assert parsed.commands == (
        Command("urgent", "", 1),
        Command("progress", "Visited the spot.\n- CCTV collected\n\nWitness examined.", 3),
    )
    assert parsed.note == ""


def test_the_text_of_a_note_stops_at_a_command_line_below_it() -> None:
    text = "#progress\nVisited the spot.\n#note Call back tomorrow\nat 11 am.\n#urgent"
    parsed = parse_commands(text)
    assert parsed.commands == (Command("progress", "Visited the spot.", 1),)
    assert parsed.problems == (f"#note (line 3) {LATE}",)
    assert parsed.note == "#note Call back tomorrow\nat 11 am.\n#urgent"


def test_arg_on_the_line_and_below() -> None:
    assert one("#close Recovered.\nReturned to the owner.\n\n").arg == (
        "Recovered.\nReturned to the owner."
    )


@pytest.mark.parametrize(
    ("text", "arg"),
    [
        ("#progress\nTeam sent.\nclose: the shop was shut", "Team sent.\nclose: the shop was shut"),
        ("#progress Team sent.\nClose: the shop was shut", "Team sent.\nClose: the shop was shut"),
        ("#progress\nClose: the shop was shut", "Close: the shop was shut"),
        ("Progress: team sent\nUrgent", "team sent\nUrgent"),
    ],
)
def test_bare_command_words_inside_a_note_are_text(text: str, arg: str) -> None:
    assert one(text) == Command("progress", arg, 1)


def test_lines_after_a_one_line_command_are_the_note() -> None:
    parsed = parse_commands("#transfer LKT\n#urgent threat to life\nWrong jurisdiction.")
    assert names(parsed) == [("transfer", "LKT"), ("urgent", "threat to life")]
    assert [c.line for c in parsed.commands] == [1, 2]
    assert parsed.note == "Wrong jurisdiction."
    below = parse_commands("#transfer LKT\nWrong jurisdiction.\n\n#urgent threat to life")
    assert names(below) == [("transfer", "LKT")]
    assert below.problems == (f"#urgent (line 4) {LATE}",)


def test_urgency_reason_is_optional() -> None:
    assert names(parse_commands("#urgent\n#semi no injury\n#routine")) == [
        ("urgent", ""),
        ("semi", "no injury"),
        ("routine", ""),
    ]


@pytest.mark.parametrize(
    ("text", "code", "note"),
    [
        ("#duplicate BHL-2611-0004", "BHL-2611-0004", ""),
        ("#dup bhl-2611-0004", "BHL-2611-0004", ""),
        ("#duplicate of BHL-2611-0004", "BHL-2611-0004", ""),
        ("#duplicate BHL-2611-0004 same snatching", "BHL-2611-0004", "same snatching"),
        ("#duplicate: KOLS-2611-000123", "KOLS-2611-000123", ""),
    ],
)
def test_duplicate_takes_a_complaint_code(text: str, code: str, note: str) -> None:
    parsed = parse_commands(text)
    assert names(parsed) == [("duplicate", code)]
    assert parsed.note == note


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("#transfer", "#transfer needs a station code, e.g. #transfer LKT"),
        ("#transfer:", "#transfer needs a station code, e.g. #transfer LKT"),
        ("#forward", "#forward needs an agency, e.g. #forward KMC"),
        ("#assign", "#assign needs an officer, e.g. #assign si.das@kolkatapolice.example"),
        ("#duplicate", "#duplicate needs a complaint code like BHL-2611-0007"),
        ("#duplicate BHL-26-7", "#duplicate needs a complaint code like BHL-2611-0007"),
        ("transfer:", "#transfer needs a station code, e.g. #transfer LKT"),
    ],
)
def test_missing_or_malformed_argument(text: str, problem: str) -> None:
    parsed = parse_commands(text)
    assert parsed.commands == ()
    assert parsed.problems == (problem,)
    assert parsed.note == text  # nothing the officer wrote is lost


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("#clsoe phone recovered", "#clsoe is not a command; did you mean #close?"),
        ("#Progres team sent", "#progres is not a command; did you mean #progress?"),
        ("#inprogres", "#inprogres is not a command; did you mean #progress?"),
        ("#closd", "#closd is not a command; did you mean #close?"),
        ("#trasnfer LKT", "#trasnfer is not a command; did you mean #transfer?"),
        ("#urgnet", "#urgnet is not a command; did you mean #urgent?"),
        ("#बंध", "#बंध is not a command; did you mean #बंद?"),
        ("#অগ্রগতী", "#অগ্রগতী is not a command; did you mean #অগ্রগতি?"),
    ],
)
def test_unknown_command_with_suggestion(text: str, problem: str) -> None:
    parsed = parse_commands(text)
    assert parsed.commands == ()
    assert parsed.problems == (problem,)


def test_unknown_command_without_suggestion_lists_the_commands() -> None:
    (problem,) = parse_commands("#xyzzy").problems
    assert problem.startswith("#xyzzy is not a command; the commands are #progress, #note")
    assert "#duplicate" in problem


def test_problem_next_to_valid_commands_keeps_its_text() -> None:
    parsed = parse_commands("#progress Team sent.\n#clsoe recovered\n#urgent")
    assert names(parsed) == [("progress", "Team sent."), ("urgent", "")]
    assert parsed.problems == ("#clsoe is not a command; did you mean #close?",)
    assert parsed.note == "#clsoe recovered"


# --------------------------------------------------------------------------- notes


def test_no_command_is_an_internal_note() -> None:
    text = "Spoke to the complainant.\n\nShe will come tomorrow at 11 am."
    assert parse_commands(text) == Parsed((), (), text)


@pytest.mark.parametrize("text", ["", "\n \n"])
def test_empty(text: str) -> None:
    assert parse_commands(text) == Parsed((), (), "")


def test_line_numbers_count_blank_lines() -> None:
    parsed = parse_commands("\n#urgent\n\n#progress x")
    assert [c.line for c in parsed.commands] == [2, 4]


# --------------------------------------------------------------------------- the registry


def test_every_command_has_words_a_handler_and_is_read_back() -> None:
    """One registry: a command with words but no handler (or a handler no word reaches)
    fails here, and so does a handler in actions.py left out of the registry."""
    import inspect

    from maildesk.officer import actions, registry

    assert [spec.name for spec in registry.SPECS] == list(CANONICAL)
    for spec in registry.SPECS:
        assert spec.words and spec.words[0] == spec.name, spec
        assert callable(spec.handler), spec
        for word in spec.words:
            arg = "BHL-2611-0007" if spec.takes == "code" else "LKT"
            assert one(f"#{word} {arg}").name == spec.name
    words = [word for spec in registry.SPECS for word in spec.words]
    assert len(words) == len(set(words)), "a word names two commands"
    public = {name for name, f in inspect.getmembers(actions, inspect.isfunction)
              if f.__module__ == actions.__name__ and not name.startswith("_")}
    used = {spec.handler.__name__ for spec in registry.SPECS} | {"reclassify"}
    assert public - used == set(), "handlers no command word reaches"
    assert {"urgent", "semi", "routine"} <= {s.name for s in registry.SPECS
                                             if s.handler.__qualname__.startswith("reclassify")}


def test_read_reply_knows_indentation_the_quote_finder_trims() -> None:
    """visible_reply trims every line; read_reply still refuses a line that was indented in
    a plain-text mail, and keeps the HTML conversion's indentation from counting."""
    from maildesk.mail.quotes import visible_reply
    from maildesk.officer.commands import read_reply

    def read(text: str, from_html: bool = False) -> Parsed:
        return read_reply(visible_reply(text), text, from_html)

    assert read("  #close recovered\n").commands == ()
    assert read("\u00a0#transfer LKT").commands == ()
    assert read("#close recovered\n").commands == (Command("close", "recovered", 1),)
    assert read("  #close recovered", from_html=True).commands == (
        Command("close", "recovered", 1),)
