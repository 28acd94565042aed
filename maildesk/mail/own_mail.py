"""The desk's own mail inside a reply: what maildesk knows that no reply-parsing library does.

An officer answers a notification the desk wrote; a resident answers its acknowledgement.
Both are in the outbox (found by the reply's In-Reply-To/References), and both follow the
desk's templates.  Wherever a client quoted that mail — with ">", without, in HTML, under a
quote header in a language nobody has a rule for — its lines are in the reply, and the typed
text ends above them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from maildesk.mail.parse import parse_mail
from maildesk.mail.quote_headers import SIGN_OFF
from maildesk.mail.templates import default_templates_dir

# The desk's own sent mail bodies (plain text) for the Message-IDs a reply names.
OwnMailLookup = Callable[[Sequence[str]], list[str]]

_MIN_LINE = 12  # shorter lines ("Thanks", "- theft") are too common to tell anything
_MIN_STATIC = 12  # a template line needs this many fixed characters to be recognised
_RUN = 2  # own lines that must be found close together
_WINDOW = 8  # ... within this many lines
_MAX_LINES = 5_000  # a typed reply is shorter; hostile input costs at most this much
_MAX_WIDTH = 400
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")
_GREETING = re.compile(r"(?i)^(?:dear|respected|sir|madam|hello|hi)\b")
_QUOTE_MARKS = re.compile(r"^(?:\s*>)+")
_SPACE = re.compile(r"\s+")
_WILDCARD = ".{0,200}?"
_WILDCARDS = re.compile(r"(?:\.\{0,200\}\?){2,}")


def normalised(line: str) -> str:
    """A line as it is compared: no quote marks, single spaces, lower case."""
    return _SPACE.sub(" ", _QUOTE_MARKS.sub("", line)).strip().lower()


@lru_cache(maxsize=4)
def template_lines(directory: Path | None = None) -> re.Pattern[str]:
    """One pattern per line of the desk's text templates with enough fixed text: a
    template's variables may be anything, its fixed words are the desk's own."""
    root = directory or default_templates_dir()
    patterns: set[str] = set()
    for path in sorted(root.glob("*/*.txt")):
        try:
            text = path.read_text("utf-8")
        except OSError:
            continue
        for raw in text.splitlines():
            if raw.startswith("Subject:") or raw.lstrip().startswith(("{%", "{#")):
                continue
            parts = _TAG.split(raw)
            static = "".join(parts)
            if len(static.strip()) < _MIN_STATIC or "{" in static or "}" in static:
                continue
            if _GREETING.match(static.strip()) or SIGN_OFF.match(static.strip()):
                continue  # "Dear Sir/Madam," and "Yours faithfully," are anyone's words
            pieces = [re.escape(normalised(p)) if p.strip() else "" for p in parts]
            # Adjacent variables make one wildcard: two in a row cost quadratic backtracking.
            body = _WILDCARDS.sub(_WILDCARD, _WILDCARD.join(pieces))
            if body:
                patterns.add(body)
    # One alternation: a reply of thousands of lines is matched once per line, not per template.
    return re.compile("^(?:" + "|".join(sorted(patterns)) + ")$" if patterns else "(?!)")


def outbox_lookup(sent_mail: Callable[[list[str]], list[bytes]]) -> OwnMailLookup:
    """An OwnMailLookup over the store's copies of what the desk sent (Store.sent_mail)."""
    def lookup(message_ids: Sequence[str]) -> list[str]:
        return [parse_mail(raw).text for raw in sent_mail(list(message_ids))]
    return lookup


def own_mail_start(lines: Sequence[str], own_texts: Iterable[str]) -> int:
    """Index of the first line of the desk's own mail quoted in ``lines`` (stripped lines of
    the reply), len(lines) if none: the first of _RUN own lines within _WINDOW lines."""
    sent = {n for text in own_texts for n in map(normalised, text.splitlines())
            if len(n) >= _MIN_LINE}
    known = template_lines()
    hits = []
    for i, line in enumerate(lines[:_MAX_LINES]):
        n = normalised(line)
        if len(n) < _MIN_LINE:
            continue
        if n in sent or known.match(n[:_MAX_WIDTH]):
            hits.append(i)
            first = next(h for h in hits if h >= i - _WINDOW)
            if len([h for h in hits if h >= first]) >= _RUN:
                return first
    return len(lines)
