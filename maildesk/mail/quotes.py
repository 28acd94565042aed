"""What an officer typed in a reply: :func:`visible_reply` drops the quoted thread and signature.

Officers answer a notification from Gmail, Outlook, Apple Mail, Thunderbird, Yahoo, Samsung,
Zoho, mutt and phone apps, in English, Hindi and Bengali locales.  Two layers do the work:

1. ``mail-parser-reply`` (its English rules) finds where the quoted thread starts:
   "On ... wrote:" (also wrapped over two lines by Gmail), Outlook's From:/Sent: block
   without ">" and "-----Original Message-----".
2. Our own rules add what it misses, found on the real client output in
   tests/mail/replies: Hindi/Bengali/Marathi Gmail attributions ("... को X ने लिखा:",
   "... তারিখে X লিখেছেন:"), Yahoo Android's attribution followed by the quote on the same
   line, Zoho's "---- On ... wrote ---", mutt's "* X <x@y> [date]:", ">" quoting without
   a known attribution, Outlook's underscore line and its Hindi/Bengali From: blocks, and
   bottom-posting.  Signatures are ours alone (see _library_quote_start for why): "-- ",
   "Sent from my iPhone"/"Sent from Yahoo Mail on Android"/"Get Outlook for Android" and
   officers' sign-offs ("Regards" without comma, "Thanks & Regards", "धन्यवाद", "ধন্যবাদ").

Signatures are cut conservatively: never above a command line ("#..."), and a sign-off or
"Sent from" line only when it stands alone and only a short name/rank block follows it.
Lines are returned stripped: HTML mail converted by inscriptis indents nested <div>s
arbitrarily, so leading blanks carry no meaning.
"""

from __future__ import annotations

import re
import unicodedata

from mailparser_reply import EmailMessage

# The library's regexes are not linear on pathological lines; it only ever sees this much.
_LIB_MAX_CHARS = 20_000
_LIB_MAX_LINE = 400  # attributions are shorter; the part of a line our own rules look at
_MAX_WINDOW = 3  # lines an attribution may be wrapped over (Gmail wraps at ~78 chars)
_SIGNATURE_LINES = 6  # name/rank/station/phone block after a sign-off
_SIGNATURE_WIDTH = 60
_SENT_FROM_WIDTH = 80

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200e\u200f\u2060\ufeff\u00ad"))  # keep ZWJ/ZWNJ
_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000\t]")

_QUOTED = re.compile(r"^>(?:[\s>]|$)")  # "> text", ">>", ">"; but ">50 people" is a note
_RULE = re.compile(r"[_-]{32,}")
_COMMAND_LIKE = re.compile(r"^[#＃]\s?[^\W\d_]")
_HAS_TIME_OR_ADDRESS = re.compile(r"\d{1,2}[:.]\d{2}|@")  # \d: Devanagari/Bengali digits too

# Last line of an attribution.  English: Gmail/Apple/Thunderbird/mutt/Yahoo ("wrote:", also
# followed by the quote on the same line, as Yahoo Android writes it) and Zoho ("wrote ---").
_ATTR_END = re.compile(
    r"\bwrote\s*(?::|-{2,})"
    r"|(?:ने|नें)\s+लिखा\s*:\s*$"  # Hindi Gmail: "... को X ने लिखा:"
    r"|(?:ने|यांनी)\s+लिहिले\s*:\s*$"  # Marathi Gmail: "... रोजी X यांनी लिहिले:"
    r"|লিখে(?:ছেন|ছে)\s*:\s*$"  # Bengali Gmail: "... তারিখে X লিখেছেন:"
)
# First line of an attribution: "On ...", Zoho's "---- On ...", or a localised weekday/date.
_ATTR_START = re.compile(
    r"^(?:-{2,}\s*)?On\s"
    r"|^(?:रवि|सोम|मंगल|मंगळ|बुध|गुरु|शुक्र|शनि)"
    r"|^(?:রবি|সোম|মঙ্গল|বুধ|বৃহস্পতি|শুক্র|শনি)"
    r"|^\d"
)
_MUTT = re.compile(r"^\*\s.{1,300}\[\d{4}-\d{2}-\d{2}[^\]]{0,40}\]:$")
_SEPARATOR = re.compile(
    r"^_{20,}$"  # Outlook web/mobile above its From: block
    r"|^-{2,}\s*(?:मूल संदेश|মূল বার্তা|আসল বার্তা)\s*-{2,}$"  # Outlook, hi/bn UI
)
# Outlook in a Hindi/Bengali UI: "प्रेषक: X" followed by "भेजा गया: ..." or "প্রেরিত: ...".
_LOCAL_FROM = re.compile(r"^(?:प्रेषक|से|থেকে|প্রেরক)\s*:")
_LOCAL_FIELD = re.compile(r"^(?:भेजा गया|दिनांक|प्रति|विषय|পাঠানো হয়েছে|প্রেরিত|তারিখ|প্রতি|বিষয়)\s*:")
_ORIGINAL = re.compile(r"(?i)^-{2,}\s*original message\s*-{2,}$")
_FROM = re.compile(r"^\*?From:")
_FIELD = re.compile(r"^\*?(?:Sent|Date|To|Subject):")
_SENT_FROM = re.compile(
    r"(?i)^(?:sent from (?:my|yahoo mail|mail for windows|outlook|samsung)\b"
    r"|get outlook for (?:android|ios)\b"
    r"|मेरे .{1,40} से भेजा गया|আমার .{1,40} থেকে পাঠানো)"
)
_DELIMITER = re.compile(r"^--$")  # "-- " once stripped
_SIGN_OFF = re.compile(
    r"(?i)^(?:(?:many\s+)?thanks|thank\s+you|thanks?\s*(?:and|&|n)\s*(?:best\s+)?regards"
    r"|(?:best|kind|warm|with|with\s+best|with\s+kind)\s+regards|regards|best"
    r"|yours\s+(?:faithfully|sincerely|truly)|sincerely"
    r"|धन्यवाद|सधन्यवाद|सादर|भवदीय|आभार सहित"
    r"|ধন্যবাদ(?:ান্তে)?|শুভেচ্ছান্তে|শুভেচ্ছা সহ|বিনীত)"
    r"[\s,.!।-]*$"
)


def visible_reply(text: str) -> str:
    """Only what the sender typed: no quoted thread, attribution, client or officer signature."""
    return _visible(_clean_lines(text), allow_bottom_post=True)


def _clean_lines(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text.translate(_INVISIBLE))
    return [line.strip() for line in text.split("\n")]


def _visible(lines: list[str], allow_bottom_post: bool) -> str:
    own = _own_quote_start(lines)
    quote = min(own, _library_quote_start(lines[:own]))
    if quote == own:
        quote = min(own, _outlook_block_start(lines[:own]))
    if not any(lines[:quote]):
        # Nothing above the quote: a bottom-poster (mutt, Thunderbird's default).  Only what
        # follows the last ">" line is safe to read; text below an unmarked quote (Outlook
        # style) may be the notification itself, with its "#close" help lines.
        last = max((i for i in range(len(lines)) if _is_quoted(lines, i)), default=-1)
        if not allow_bottom_post or last < quote:
            return ""
        return _visible(lines[last + 1 :], allow_bottom_post=False)
    top = lines[:quote]
    return "\n".join(top[: _signature_start(top)]).strip()


# --------------------------------------------------------------------------- quote start


def _own_quote_start(lines: list[str]) -> int:
    """Index of the first line of the quoted thread by our rules, len(lines) if none."""
    for i, line in enumerate(lines):
        if _is_quoted(lines, i) or _MUTT.match(line) or _SEPARATOR.match(line):
            return _attribution_above(lines, i)
        if _LOCAL_FROM.match(line) and any(_LOCAL_FIELD.match(n) for n in lines[i + 1 : i + 3]):
            return i
        if _ATTR_END.search(line[:_LIB_MAX_LINE]):
            start = _attribution_start(lines, i)
            if start is not None:
                return start
    return len(lines)


def _is_quoted(lines: list[str], i: int) -> bool:
    """A ">" line; ">text" (no space) only next to another ">" line."""
    if _QUOTED.match(lines[i]):
        return True
    if not lines[i].startswith(">"):
        return False
    return any(lines[j].startswith(">") for j in (i - 1, i + 1) if 0 <= j < len(lines))


def _attribution_start(lines: list[str], end: int) -> int | None:
    """First line of an attribution ending on line ``end``; the nearest start wins, so an
    officer's line just above (e.g. one starting with a digit) is never taken with it."""
    for start in range(end, max(end - _MAX_WINDOW, -1), -1):
        window = lines[start : end + 1]
        if not all(window):
            return None  # attributions are never split by a blank line
        if _ATTR_START.match(window[0]) and _HAS_TIME_OR_ADDRESS.search(" ".join(window)):
            return start
    return None


def _attribution_above(lines: list[str], quote: int) -> int:
    """Start of a quote block: include an attribution line ending with ":" just above it
    (one blank line apart at most), even in a language we have no rule for."""
    i = quote - 1
    if i >= 0 and not lines[i]:
        i -= 1
    if i >= 0 and lines[i].endswith(":") and _HAS_TIME_OR_ADDRESS.search(lines[i]):
        start = _attribution_start(lines, i)
        return i if start is None else start
    return quote


# --------------------------------------------------------------------------- library


def _library_quote_start(lines: list[str]) -> int:
    """Where mail-parser-reply sees the thread begin; len(lines) if it sees none.

    Its signature detection is not used: its sign-off rule cuts a note at "Thanks, the team
    reached the spot" and at everything below, commands included.
    """
    budget, shown, where = _LIB_MAX_CHARS, [], []
    for i, line in enumerate(lines):
        budget -= len(line) + 1
        if budget < 0:
            break
        # Its regexes are quadratic on runs of blank lines and of spaces: show it one blank
        # line per run and single spaces, and map its line numbers back through `where`.
        if not line and shown and not shown[-1]:
            continue
        # Long "____"/"----" lines are ours to judge (_SEPARATOR); the library would delete
        # them while normalising, and its line numbers would no longer match ours.
        shown.append("" if _RULE.fullmatch(line) else " ".join(line[:_LIB_MAX_LINE].split()))
        where.append(i)
    text = "\n".join(shown)
    replies = EmailMessage(text, languages=["en"], keep_hyphen_lists=True).read().replies
    if not replies:
        return len(lines)
    if replies[0].headers:  # the text starts with a reply header
        return 0
    if len(replies) == 1:
        return len(lines)
    # The top fragment is a stripped substring of the text: count the lines it covers.
    end = text.find(replies[0].content) + len(replies[0].content)
    last = text.count("\n", 0, end)
    return where[last] + 1


def _outlook_block_start(lines: list[str]) -> int:
    """Outlook's English From:/Sent: block and "-----Original Message-----", where the
    library saw no quote: it is shown only the first _LIB_MAX_CHARS, and an unmarked quote
    it misses would bring the notification's "#close NOTE" help lines along."""
    for i, line in enumerate(lines):
        if _ORIGINAL.match(line):
            return i
        if _FROM.match(line) and any(_FIELD.match(n) for n in lines[i + 1 : i + 3]):
            return i
    return len(lines)


# --------------------------------------------------------------------------- signatures


def _signature_start(top: list[str]) -> int:
    """First line of a client or officer signature, len(top) if none.  Never above a
    command line: "Regards" or "-- " followed by "#close" is not the end of the reply."""
    last_command = max((i for i, line in enumerate(top) if _COMMAND_LIKE.match(line)), default=-1)
    first_text = next((i for i, line in enumerate(top) if line), len(top))
    block = _block_start(top)
    for i in range(max(last_command + 1, first_text), len(top)):
        line = top[i]
        if _DELIMITER.match(line):
            return i
        if i >= block and _SENT_FROM.match(line) and len(line) <= _SENT_FROM_WIDTH:
            return i
        if i > first_text and i >= block and _SIGN_OFF.match(line):
            return i
    return len(top)


def _block_start(top: list[str]) -> int:
    """Lowest index a sign-off may stand at: below it, up to the end, only a name/rank/
    station/phone block of a few short lines."""
    count = 0
    for i in range(len(top) - 1, -1, -1):
        if not top[i]:
            continue
        if len(top[i]) > _SIGNATURE_WIDTH:
            return i + 1
        count += 1
        if count > _SIGNATURE_LINES:
            return i
    return 0
