"""The command grammar of an officer's reply: :func:`parse_commands` on the visible text.

Commands stand in one block at the very top of the reply, one per line, case-insensitive::

    #urgent second snatching in this lane this week
    #progress
    Two constables posted at the bus stop.
    Night patrol asked to check every hour.

* The block starts at the first line that is not blank and stops at the first line that is
  not a command. A command line is never indented: the desk indents every help line and
  every resident's text in its own mails, and a line that stands below the officer's own
  words ("Spoke to her.", a pasted quote without ">") can never be read as a command, so a
  quoted notification cannot act with the officer's authority.
* A line starting with ``#word`` is a command attempt; an unknown word is a problem with a
  did-you-mean suggestion.  ``#45 Diamond Harbour Road`` (digits) is not an attempt.  The
  desk's own help lines (``#close NOTE   close the complaint``) are never commands.
* The ``#`` may be left out when ":" / "-" / the line end follows the word ("Close: phone
  recovered"), so "Close to the station there is a camera" stays prose.  A one-line reply
  may also be a bare command with a checkable argument ("Transfer LKT").
* progress/note/incomplete/close take free text: the rest of the line and, for the last
  command of the block, the lines below it up to the first line that looks like a command.
  Other commands take only the rest of their line.  A command line further down is not
  carried out; the officer is told why.

The commands themselves (words, arguments, handlers) are listed in registry.py.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from maildesk.mail.patterns import CODE
from maildesk.officer.registry import BY_NAME, CANONICAL, COMMANDS, NOTE_LIKE

__all__ = ["CANONICAL", "COMMANDS", "NOTE_LIKE", "Command", "Parsed", "parse_commands",
           "read_reply"]


def _key(word: str) -> str:
    """Lookup form: NFC, casefolded, nukta-less ("ज़रूरी" = "जरूरी", typed either way)."""
    word = unicodedata.normalize("NFC", word).casefold()
    return word.replace("\u093c", "").replace("\u09bc", "")


_ALIASES = {_key(k): v for k, v in COMMANDS.items()}
# Words too common at the start of an ordinary line to be read without "#":
# "Info: the number is wrong" must not ask the resident for information.
HASH_ONLY = frozenset({"info", "dup"})

# A word: letters/digits in Latin, Devanagari or Bengali (their vowel signs are not \w),
# inner hyphens allowed ("semi-urgent"); the danda "।" ends it.
_W = r"[\w\u0900-\u0963\u0966-\u09ff\u200c\u200d]"
_HASH = re.compile(rf"^[#＃]\s?(?P<word>{_W}+(?:-{_W}+)*)(?P<rest>.*)$")
_BARE = re.compile(rf"^(?P<word>{_W}+(?:-{_W}+)*)(?P<rest>.*)$")
_SEPARATED = re.compile(r"^\s*(?:[:：]|[-–—](?=\s|$))\s*(?P<arg>.*)$|^\s*[.।]?\s*$")
# The desk's own help lines, as its notifications print them: a placeholder in capitals
# ("#close NOTE   close the complaint", "#transfer STATION") or a list ("#urgent / #semi").
_HELP_LINE = re.compile(r"^\s*(?:(?:NOTE|TEXT|WHAT|STATION|AGENCY|OFFICER|CODE|WHAT WAS DONE)"
                        r"(?:\s{2,}|\s+[a-z(]|,|;|$)|/\s*[#＃])")


@dataclass(frozen=True)
class Command:
    name: str  # canonical: one of CANONICAL
    arg: str  # stripped; several lines for NOTE_LIKE commands; the code for duplicate
    line: int  # 1-based line in the visible reply


@dataclass(frozen=True)
class Parsed:
    commands: tuple[Command, ...]
    problems: tuple[str, ...]  # unknown or malformed commands, one short sentence each
    # No commands: the whole visible text (an internal note).  Otherwise the text that
    # belongs to no command (e.g. lines after #transfer), usually "".
    note: str


def read_reply(typed: str, original: str, from_html: bool = False) -> Parsed:
    """The commands of an officer's mail: the typed part (``typed``: quotes.typed_reply),
    where a command line of a plain-text mail must also stand unindented in the mail as it
    came (``original``). Text made from HTML is indented by the conversion (Outlook's
    paragraphs), not by the writer, so there only the block rule holds."""
    if from_html:
        return parse_commands(typed)
    lines = original.replace("\r", "\n").translate(_INVISIBLE).split("\n")
    unindented = {_flat(line) for line in lines if line and not line[0].isspace()}
    return parse_commands(typed, unindented)


def parse_commands(visible: str, unindented: set[str] | None = None) -> Parsed:
    """`unindented`: the lines (see _flat) that stand unindented in the mail as it came, when
    `visible` no longer shows indentation; a command line must be one of them."""
    lines = [_clean(line) for line in visible.split("\n")]
    if unindented is not None:  # an indented line keeps a space, so _attempt refuses it
        lines = [line if not line or _flat(line) in unindented else " " + line for line in lines]
    single = sum(1 for line in lines if line.strip()) == 1
    commands: list[Command] = []
    problems: list[str] = []
    free: list[str] = []
    at = end = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    while at < len(lines):  # the block at the top; blank lines between its commands
        if not lines[at].strip():
            at += 1
            continue
        # Below progress/note/incomplete/close a bare word is its text ("Close: shop shut").
        bare = not (commands and commands[-1].name in NOTE_LIKE)
        attempt = _attempt(lines[at], single, bare)
        if attempt is None:
            break
        word, rest = attempt
        name = _ALIASES.get(_key(word))
        arg, extra, problem = _argument(name, rest) if name else ("", "", _unknown(word))
        if problem:
            problems.append(problem)
            free.append(lines[at].strip())
        else:
            commands.append(Command(name, arg, at + 1))
            if extra:
                free.append(extra)
        at = end = at + 1
    at = end
    below = lines[at:]
    stop = next((i for i, line in enumerate(below)
                 if _HASH.match(line.strip()) or _desk_heading(line)), len(below))
    if commands and commands[-1].name in NOTE_LIKE:
        last = commands[-1]
        text = "\n".join([last.arg, *(line.strip() for line in below[:stop])]).strip()
        commands[-1] = Command(last.name, text, last.line)
        below = below[stop:]
    free.extend(line.strip() for line in below if line.strip())
    if late := _late(lines, at):
        problems.append(late)
    text = visible.strip() if not commands else "\n".join(free).strip()
    return Parsed(tuple(commands), tuple(problems), text)


def _late(lines: list[str], start: int) -> str:
    """The problem for the first command line at or below `start`, if one names a command."""
    for at in range(start, len(lines)):
        if _desk_heading(lines[at]):
            return ""  # the desk's own mail, pasted without ">": its help lines are no news
        match = _HASH.match(lines[at].strip())
        if match and _key(match["word"]) in _ALIASES and not _HELP_LINE.match(match["rest"]):
            return (f"#{match['word'].casefold()} (line {at + 1}) was not carried out: commands "
                    "count only in one block at the very top of the reply, one per line, "
                    "not indented")
    return ""


def _desk_heading(line: str) -> bool:
    """A heading of the desk's own mail to officers ("URGENT — act now: complaint BHL-2611-0007
    at ...", "Complaint BHL-2611-0007: ...", "Nothing was done on complaint ..."): where a
    quoted notification begins when the client pasted it without ">"."""
    code = CODE.search(line)
    return code is not None and line[: code.start()].rstrip().casefold().endswith("complaint")


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200e\u200f\u2060\ufeff\u00ad"))
_ANY_SPACE = re.compile(r"\s+")


def _flat(line: str) -> str:
    """A line compared without its spaces and invisible characters, NFC."""
    return _ANY_SPACE.sub("", unicodedata.normalize("NFC", line.translate(_INVISIBLE)))


def _clean(line: str) -> str:
    line = unicodedata.normalize("NFC", line).replace("\u00a0", " ").replace("\u202f", " ")
    return line.rstrip()


def _attempt(line: str, single: bool, bare: bool = True) -> tuple[str, str] | None:
    """(word, rest of line) when the line is a command attempt, else None. An indented
    line never is: that is how the desk's own mails print help lines and residents' text."""
    if not line or line[0].isspace():
        return None
    if match := _HASH.match(line):
        word = match["word"]
        if any(ch.isdigit() for ch in word) or word[0] == "_":
            return None  # "#45 Diamond Harbour Road", "#B-12": addresses, not commands
        if _HELP_LINE.match(match["rest"]):
            return None  # a help line of the desk's own mail, quoted back
        return word, match["rest"]
    if not bare or _desk_heading(line) or not (match := _BARE.match(line)):
        return None
    key = _key(match["word"])
    if key not in _ALIASES or key in HASH_ONLY:
        return None
    rest = match["rest"]
    if separated := _SEPARATED.match(rest):
        return match["word"], separated["arg"] or ""
    proves = BY_NAME[_ALIASES[key]].proves
    if single and proves is not None and proves(rest.strip()):
        return match["word"], rest
    return None


def _argument(name: str, rest: str) -> tuple[str, str, str]:
    """(arg, text left over for the note, problem) for a known command."""
    spec = BY_NAME[name]
    arg = rest.lstrip(" \t:：-–—.।").strip()  # "#close: x", "#close - x", "#बंद। x"
    if spec.takes == "code":
        code = CODE.search(arg)
        if code is None:
            return "", "", spec.needs
        leftover = (arg[: code.start()] + arg[code.end() :]).strip(" ,;:-–—")
        leftover = "" if leftover.casefold() in ("of", "as", "same as") else leftover
        return code.group().upper(), leftover, ""
    if spec.needs and not arg:
        return "", "", spec.needs
    return arg, "", ""


def _unknown(word: str) -> str:
    typed = word.casefold()
    close = difflib.get_close_matches(_key(word), _ALIASES, n=1, cutoff=0.6)
    if close:
        # English typos get the canonical name; a Hindi/Bengali typo its own language's word.
        alias = close[0]
        suggestion = _ALIASES[alias] if alias.isascii() else alias
        return f"#{typed} is not a command; did you mean #{suggestion}?"
    return f"#{typed} is not a command; the commands are " + ", ".join(f"#{c}" for c in CANONICAL)
