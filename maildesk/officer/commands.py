"""The command grammar of an officer's reply: :func:`parse_commands` on the visible text.

Commands stand at the top of the reply, one per line, case-insensitive::

    #urgent second snatching in this lane this week
    #progress
    Two constables posted at the bus stop.
    Night patrol asked to check every hour.

* A line starting with ``#word`` is always a command attempt; an unknown word is a problem
  with a did-you-mean suggestion.  ``#45 Diamond Harbour Road`` (digits) is not an attempt.
* The ``#`` may be left out, but a bare word counts only at the top (no prose line and no
  progress/note/incomplete/close seen yet) and only when ":" / "-" / the line end follows
  it ("Close: phone recovered"), so "Close to the station there is a camera" stays prose.
  A one-line reply may also be a bare command with a checkable argument ("Transfer LKT",
  "duplicate BHL-2611-0004").
* progress/note/incomplete/close take free text: the rest of the line and the lines below,
  up to the next command.  Other commands take only the rest of their line.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from maildesk.mail.patterns import CODE, CODE_ALONE

NOTE_LIKE = frozenset({"progress", "note", "incomplete", "close"})

# Aliases -> canonical name, matched case-insensitively (see _key).
COMMANDS: dict[str, str] = {
    "progress": "progress", "inprogress": "progress", "in-progress": "progress",
    "note": "note",
    "incomplete": "incomplete", "info": "incomplete",
    "close": "close", "closed": "close", "resolve": "close", "resolved": "close",
    "urgent": "urgent",
    "semi": "semi", "semi-urgent": "semi", "semiurgent": "semi",
    "routine": "routine", "nonurgent": "routine", "non-urgent": "routine",
    "transfer": "transfer",
    "forward": "forward",
    "assign": "assign",
    "duplicate": "duplicate", "dup": "duplicate",
    # Hindi
    "प्रगति": "progress", "नोट": "note", "अधूरा": "incomplete", "अपूर्ण": "incomplete",
    "बंद": "close", "तत्काल": "urgent", "जरूरी": "urgent", "सामान्य": "routine",
    "स्थानांतरण": "transfer", "डुप्लिकेट": "duplicate",
    # Bengali (both spellings of "urgent" are in common use)
    "অগ্রগতি": "progress", "নোট": "note", "অসম্পূর্ণ": "incomplete", "বন্ধ": "close",
    "জরুরি": "urgent", "জরুরী": "urgent", "সাধারণ": "routine", "স্থানান্তর": "transfer",
    "ডুপ্লিকেট": "duplicate",
}  # fmt: skip


def _key(word: str) -> str:
    """Lookup form: NFC, casefolded, nukta-less ("ज़रूरी" = "जरूरी", typed either way)."""
    word = unicodedata.normalize("NFC", word).casefold()
    return word.replace("\u093c", "").replace("\u09bc", "")


_ALIASES = {_key(k): v for k, v in COMMANDS.items()}
# Words too common at the start of an ordinary line to be read without "#":
# "Info: the number is wrong" must not ask the resident for information.
HASH_ONLY = frozenset({"info", "dup"})
CANONICAL = tuple(dict.fromkeys(COMMANDS.values()))
_NEEDS_ARG = {
    "transfer": "#transfer needs a station code, e.g. #transfer LKT",
    "forward": "#forward needs an agency, e.g. #forward KMC",
    "assign": "#assign needs an officer, e.g. #assign si.das@kolkatapolice.example",
}

# A word: letters/digits in Latin, Devanagari or Bengali (their vowel signs are not \w),
# inner hyphens allowed ("semi-urgent"); the danda "।" ends it.
_W = r"[\w\u0900-\u0963\u0966-\u09ff\u200c\u200d]"
_HASH = re.compile(rf"^[#＃]\s?(?P<word>{_W}+(?:-{_W}+)*)(?P<rest>.*)$")
_BARE = re.compile(rf"^(?P<word>{_W}+(?:-{_W}+)*)(?P<rest>.*)$")
_SEPARATED = re.compile(r"^\s*(?:[:：]|[-–—](?=\s|$))\s*(?P<arg>.*)$|^\s*[.।]?\s*$")
_STATION = re.compile(r"^[A-Z]{2,6}$")
_ADDRESS = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_SALUTATION = re.compile(
    r"(?i)^(?:respected\s+)?(?:sir|madam|sir/madam|dear\s.{1,40}|महोदय|महोदया|মহাশয়|স্যার)[,.!]*$"
)


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


def parse_commands(visible: str) -> Parsed:
    lines = [_clean(line) for line in visible.split("\n")]
    commands: list[Command] = []
    problems: list[str] = []
    free: list[str] = []
    open_arg: list[str] | None = None  # lines of the note-like command being read
    open_at = 0
    top = True  # no prose line seen yet: bare command words still count
    single = sum(1 for line in lines if line) == 1

    def close_open() -> None:
        if open_arg is not None:
            name = commands[open_at].name
            commands[open_at] = Command(name, "\n".join(open_arg).strip(), commands[open_at].line)

    for number, line in enumerate(lines, start=1):
        attempt = _attempt(line, top, single)
        if attempt is None:
            if open_arg is not None:
                open_arg.append(line)
            elif line and not (top and _SALUTATION.match(line)):
                free.append(line)
            top = top and (not line or bool(_SALUTATION.match(line)))
            continue
        close_open()
        open_arg = None
        word, rest = attempt
        name = _ALIASES.get(_key(word))
        if name is None:
            problems.append(_unknown(word))
            free.append(line)
            continue
        arg, extra, problem = _argument(name, rest)
        if problem:
            problems.append(problem)
            free.append(line)
            continue
        commands.append(Command(name, arg, number))
        if extra:
            free.append(extra)
        if name in NOTE_LIKE:
            # Its free text runs to the next "#" command: a bare word below it is text
            # ("#progress Visited.\nClose: the shop was shut" must not close anything).
            open_arg, open_at, top = [arg], len(commands) - 1, False
    close_open()
    text = visible.strip() if not commands else "\n".join(free).strip()
    return Parsed(tuple(commands), tuple(problems), text)


def _clean(line: str) -> str:
    line = unicodedata.normalize("NFC", line).replace("\u00a0", " ").replace("\u202f", " ")
    return line.strip()


def _attempt(line: str, top: bool, single: bool) -> tuple[str, str] | None:
    """(word, rest of line) when the line is a command attempt, else None."""
    if match := _HASH.match(line):
        word = match["word"]
        if any(ch.isdigit() for ch in word) or word[0] == "_":
            return None  # "#45 Diamond Harbour Road", "#B-12": addresses, not commands
        return word, match["rest"]
    if not top or not (match := _BARE.match(line)):
        return None
    key = _key(match["word"])
    if key not in _ALIASES or key in HASH_ONLY:
        return None
    rest = match["rest"]
    if separated := _SEPARATED.match(rest):
        return match["word"], separated["arg"] or ""
    if single and _checkable(_ALIASES[key], rest.strip()):
        return match["word"], rest
    return None


def _checkable(name: str, arg: str) -> bool:
    """A bare one-line reply reads as a command only with an argument that proves it."""
    if name == "duplicate":
        return bool(CODE_ALONE.match(arg))
    if name in ("transfer", "forward"):
        return bool(_STATION.match(arg) or _ADDRESS.match(arg))
    if name == "assign":
        return bool(_ADDRESS.match(arg))
    return False


def _argument(name: str, rest: str) -> tuple[str, str, str]:
    """(arg, text left over for the note, problem) for a known command."""
    arg = rest.lstrip(" \t:：-–—.।").strip()  # "#close: x", "#close - x", "#बंद। x"
    if name == "duplicate":
        code = CODE.search(arg)
        if code is None:
            return "", "", "#duplicate needs a complaint code like BHL-2611-0007"
        leftover = (arg[: code.start()] + arg[code.end() :]).strip(" ,;:-–—")
        leftover = "" if leftover.casefold() in ("of", "as", "same as") else leftover
        return code.group().upper(), leftover, ""
    if name in _NEEDS_ARG and not arg:
        return "", "", _NEEDS_ARG[name]
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
