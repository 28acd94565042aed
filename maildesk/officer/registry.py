"""The one list of officer commands: each command's words (in every language), what its
argument must be, and the handler that carries it out, side by side.

A new command is one `Spec` here and one handler in actions.py; the grammar
(commands.py) and the pipeline read everything else from this table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from maildesk.mail.patterns import CODE_ALONE, STATION_CODE
from maildesk.officer import actions
from maildesk.officer.actions import Acting, Handler, Refused

_ADDRESS = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


def _code(arg: str) -> bool:
    return bool(CODE_ALONE.match(arg))


def _station_or_address(arg: str) -> bool:
    return bool(STATION_CODE.match(arg) or _ADDRESS.match(arg))


def _address(arg: str) -> bool:
    return bool(_ADDRESS.match(arg))


@dataclass(frozen=True)
class Spec:
    """One command. `words`: every alias, English first (the canonical name is `name`).
    `takes`: "text" (the rest of the line and, for the last command, the lines below),
    "line" (the rest of its line only) or "code" (a complaint code). `needs`: the problem
    shown when a required argument is missing. `proves`: for a one-line reply written
    without "#", the argument that shows a command was meant ("Transfer LKT")."""

    name: str
    words: tuple[str, ...]
    handler: Handler
    takes: str = "line"
    needs: str = ""
    proves: Callable[[str], bool] | None = None


SPECS: tuple[Spec, ...] = (
    Spec("progress", ("progress", "inprogress", "in-progress", "प्रगति", "অগ্রগতি"),
         actions.progress, takes="text"),
    Spec("note", ("note", "नोट", "নোট"), actions.note, takes="text"),
    Spec("incomplete", ("incomplete", "info", "अधूरा", "अपूर्ण", "অসম্পূর্ণ"),
         actions.incomplete, takes="text"),
    Spec("close", ("close", "closed", "resolve", "resolved", "बंद", "বন্ধ"),
         actions.close, takes="text"),
    # Bengali: both spellings of "urgent" are in common use
    Spec("urgent", ("urgent", "तत्काल", "जरूरी", "জরুরি", "জরুরী"), actions.reclassify("urgent")),
    Spec("semi", ("semi", "semi-urgent", "semiurgent"), actions.reclassify("semi")),
    Spec("routine", ("routine", "nonurgent", "non-urgent", "सामान्य", "সাধারণ"),
         actions.reclassify("routine")),
    Spec("transfer", ("transfer", "स्थानांतरण", "স্থানান্তর"), actions.transfer,
         needs="#transfer needs a station code, e.g. #transfer LKT", proves=_station_or_address),
    Spec("forward", ("forward",), actions.forward,
         needs="#forward needs an agency, e.g. #forward KMC", proves=_station_or_address),
    Spec("assign", ("assign",), actions.assign,
         needs="#assign needs an officer, e.g. #assign si.das@kolkatapolice.example",
         proves=_address),
    Spec("duplicate", ("duplicate", "dup", "डुप्लिकेट", "ডুপ্লিকেট"), actions.duplicate,
         takes="code", needs="#duplicate needs a complaint code like BHL-2611-0007",
         proves=_code),
)  # fmt: skip

BY_NAME: dict[str, Spec] = {spec.name: spec for spec in SPECS}
# Alias -> canonical name, as typed (the grammar matches them case-insensitively).
COMMANDS: dict[str, str] = {word: spec.name for spec in SPECS for word in spec.words}
CANONICAL: tuple[str, ...] = tuple(spec.name for spec in SPECS)
NOTE_LIKE = frozenset(spec.name for spec in SPECS if spec.takes == "text")


def carry_out(acting: Acting, commands: tuple) -> tuple[list[str], list[str]]:
    """Run the commands (commands.Command) in order; returns (what was done, what was
    refused and why)."""
    done, problems = [], []
    for command in commands:
        spec = BY_NAME.get(command.name)
        if spec is None:
            problems.append(f"#{command.name} is not a command")
            continue
        try:
            done.append(spec.handler(acting, command.arg))
        except Refused as refusal:
            problems.append(str(refusal))
    return done, problems
