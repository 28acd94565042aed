"""What an officer or resident typed in a reply: one place that finds where it ends.

:func:`typed_reply` is what every stage reads (sorting, officer commands, `maildesk inspect`);
:func:`visible_reply` is the same on a plain text, for callers that only have text.

Layers, each cutting where it sees the thread begin (the earliest cut wins):

1. HTML-only replies are cut at the client's quote container before they become text
   (mail.html_quotes).
2. The desk's own mail: its notification or acknowledgement, found in the reply by the
   outbox copy and by the fixed lines of its templates (mail.own_mail), whatever quote
   header stands above it.
3. ``mail-parser-reply`` in all its languages.
4. Our own rules (patterns in mail.quote_headers): attributions in the languages of
   maildesk's users, wrapped over up to three lines, ">" blocks under an attribution in a
   language nobody has a rule for, "-----Original Message-----"-style separators, header
   blocks (From:/Sent:/To:/Subject:, bold or not, in many languages), list footers,
   bottom-posting.

Signatures are cut only where clearly one: "-- ", a client's footer line ("Sent from my
iPhone", "Gesendet von Outlook für Android"), a sign-off followed only by a short name
block, a short "-Name" last line, or the sender's own name standing alone at the end.
Never above a command line.  A legal notice ends the text first (mail.disclaimers).  Lines a
client wrapped are joined back first (mail.flowed).  The typed text keeps its indentation
and lists.
"""
from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from mailparser_reply import EmailMessage

from maildesk.mail import quote_headers as qh
from maildesk.mail.disclaimers import disclaimer_start
from maildesk.mail.flowed import FlowMode, flow_mode, unwrap
from maildesk.mail.html_quotes import typed_html_text
from maildesk.mail.own_mail import OwnMailLookup, own_mail_start
from maildesk.mail.parse import ParsedMail
from maildesk.mail.patterns import COMMAND_LINE
from maildesk.mail.signatures import learned_tails, signature_start

# The library's regexes are not linear on pathological lines; it only ever sees this much.
_LIB_MAX_CHARS = 20_000
_LIB_LANGUAGES = ["en", "de", "fr", "nl", "it", "es", "pl", "sv", "da", "ja"]
_LIB_MAX_LINE = 400  # attributions are shorter; the part of a line our own rules look at
_MAX_WINDOW = 3  # lines an attribution may be wrapped over (Gmail wraps at ~78 chars)
_SIGNATURE_LINES = 6  # name/rank/station/phone block after a sign-off
_SIGNATURE_WIDTH = 60
_FOOTER_WIDTH = 120
_NAME_WIDTH = 40  # a name, rank or phone line under a footer
_INNER_QUOTE_LINES = 4  # ">" lines an officer quotes inside a note, typed text above and below
_INNER_QUOTES = 2  # ... at most this many times; more is an interleaved reply (_interleaved)

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200e\u200f\u2060\ufeff\u00ad"))  # keep ZWJ/ZWNJ
_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000]")

_QUOTED = re.compile(r"^>(?:[\s>]|$)")  # "> text", ">>", ">"; but ">50 people" is a note
_RULE = re.compile(r"[_-]{32,}")
_HAS_TIME_OR_ADDRESS = qh.TIME_OR_ADDRESS

# First line of an attribution: "On ...", Zoho's "---- On ...", a weekday or date in the
# languages above, or a digit.  Used to find where a wrapped attribution starts.
_ATTR_START = re.compile(
    r"(?i)^(?:-{2,}\s*)?(?:On|Am|Le|Op|Il|In data|Em|El|Den|Dne|W dniu|Vào|Em|Le)\s"
    r"|^(?:रवि|सोम|मंगल|मंगळ|बुध|गुरु|शुक्र|शनि)"
    r"|^(?:রবি|সোম|মঙ্গল|বুধ|বৃহস্পতি|শুক্র|শনি)"
    r"|^[^\W\d_]{1,4}\.?,?\s+\d"  # "ma 23.11.2026", "пн, 23 нояб.", "man. 23. nov.", "pon., 23"
    r"|^\d"
)
_MUTT = re.compile(r"^\*\s.{1,300}\[\d{4}-\d{2}-\d{2}[^\]]{0,40}\]:$")
_DELIMITER = re.compile(r"^--$")  # "-- " once stripped
_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){2,}")
_PS = re.compile(r"(?i)^p\.?\s?s\.?\s?[:-]")


def typed_reply(mail: ParsedMail, own_mail_lookup: OwnMailLookup | None = None,
                earlier_replies: Sequence[str] = ()) -> str:
    """What the sender of ``mail`` typed: no quoted thread, quote header, client footer or
    signature.  ``own_mail_lookup`` gives the desk's own mail the reply answers (the outbox,
    by In-Reply-To/References); without it the desk's templates still mark its mail.
    ``earlier_replies`` are the texts of the sender's earlier replies (Store.
    officer_reply_texts): a block of lines they end with is the sender's own signature."""
    own: list[str] = []
    ids = [*mail.in_reply_to, *mail.references]
    if own_mail_lookup is not None and ids:
        own = own_mail_lookup(ids)
    text = mail.text
    if mail.from_html and mail.html:
        above = typed_html_text(mail.html)
        if above is not None:
            text = above
    flowed = flow_mode(mail)
    tails = learned_tails(earlier_replies, lambda t: _earlier_typed(t, mail.from_name))
    return _typed(text, own, mail.from_name, flowed, tails)


def visible_reply(text: str) -> str:
    """Only what the sender typed in a plain text: no quoted thread, attribution, client or
    officer signature."""
    return _typed(text, [], "", "")


def _typed(text: str, own: Sequence[str], sender_name: str, flowed: FlowMode,
           tails: Sequence[tuple[str, ...]] = ()) -> str:
    raw = _clean_lines(text)
    if flowed:
        raw = unwrap(raw, commands_only=flowed == "declared")
    kept = _trimmed(_visible(raw, own, sender_name, allow_bottom_post=True))
    learned = signature_start(kept, tails)
    if learned < len(kept):
        # A sign-off right above the officer's own signature goes with it.
        kept = _trimmed(kept[:learned])
        kept = _trimmed(_without_signature(kept, [line.strip() for line in kept], sender_name))
    return _BLANK_RUN.sub("\n\n", textwrap.dedent("\n".join(kept))).strip("\n")


@lru_cache(maxsize=256)
def _earlier_typed(text: str, sender_name: str) -> str:
    """An earlier reply's typed text: sorting reads a mail several times, each time with the
    same earlier replies."""
    return _typed(text, [], sender_name, "")


def _trimmed(kept: list[str]) -> list[str]:
    start = next((i for i, line in enumerate(kept) if line.strip()), len(kept))
    end = max((i + 1 for i, line in enumerate(kept) if line.strip()), default=start)
    return kept[start:end]


def _clean_lines(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text.translate(_INVISIBLE)).replace("\t", "    ")
    return [line.rstrip() for line in text.split("\n")]


def _visible(raw: list[str], own: Sequence[str], sender_name: str,
             allow_bottom_post: bool) -> list[str]:
    lines = [line.strip() for line in raw]
    quote = min(_own_quote_start(lines), _header_above(lines, own_mail_start(lines, own)))
    quote = min(quote, _library_cut(lines[:quote]), _header_block_start(lines[:quote]))
    above = [line for line in lines[:quote] if line]
    greeting = len(above) == 1 and bool(qh.GREETING.match(above[0]))
    if not above or greeting:
        # Nothing above the quote, or only "Hi,": a bottom-poster (mutt, Thunderbird's
        # default).  Only what follows the last ">" line is safe to read; text below an
        # unmarked quote (Outlook style) may be the notification itself, with its "#close"
        # help lines.
        last = max((i for i in range(len(lines)) if _is_quoted(lines, i)), default=-1)
        if not allow_bottom_post or last < quote:
            return raw[:quote] if greeting else []
        answers = _visible(_answers_between(raw, lines, quote), own, sender_name,
                           allow_bottom_post=False)
        if greeting and answers:
            return [*raw[: lines.index(above[0]) + 1], "", *answers]
        return answers or (raw[:quote] if greeting else [])
    top = lines[:quote]
    top = top[: _dangling_attribution(top)]
    typed = _without_signature(raw[: len(top)], top, sender_name)
    if allow_bottom_post and _interleaved(lines, quote):
        # "Answers below:" then answers between the ">" blocks they answer.
        answers = _visible(_answers_between(raw, lines, quote), own, sender_name,
                           allow_bottom_post=False)
        if answers:
            return [*typed, "", *answers]
    return typed


def _interleaved(lines: list[str], quote: int) -> bool:
    """Below ``quote`` (a ">" block), an unquoted line with ">" lines after it again: the
    sender answered inside the quote.  Text only after the last ">" line is not enough (a
    signature or a list footer stands there too)."""
    first = next((i for i in range(quote, len(lines)) if _is_quoted(lines, i)), None)
    if first is None or any(lines[quote:first]) and first - quote > _MAX_WINDOW + 1:
        return False
    last = max(i for i in range(first, len(lines)) if _is_quoted(lines, i))
    return any(lines[i] and not _is_quoted(lines, i) for i in range(first, last))


def _answers_between(raw: list[str], lines: list[str], quote: int) -> list[str]:
    """Bottom-posted and inline answers: the unquoted runs between and after ">" blocks,
    a blank line apart.  Attributions above later ">" blocks are left out."""
    out: list[str] = []
    run: list[str] = []
    seen = False  # a ">" line was passed: what follows unquoted is an answer
    for i in range(quote, len(lines)):
        if _is_quoted(lines, i):
            if run:
                stripped = [line.strip() for line in run]
                kept = run[: _attribution_above([*stripped, lines[i]], len(run))]
                if any(line.strip() for line in kept):
                    out.extend([*kept, ""])
            run, seen = [], True
        elif seen:
            run.append(raw[i])
    if any(line.strip() for line in run):
        out.extend(run)
    return out


def _without_signature(raw: list[str], top: list[str], sender_name: str) -> list[str]:
    """The typed lines less a signature; a "PS:" paragraph under the signature stays.  A
    disclaimer ends the text first, so the signature above it is found as the last lines."""
    notice = disclaimer_start(top, _typed_start(top))
    raw, top = raw[:notice], top[:notice]
    ps = next((i for i, line in enumerate(top) if _PS.match(line)), None)
    if ps is not None and ps > 0:
        cut = _signature_start(top[:ps], sender_name)
        if cut < ps:
            return [*raw[:cut], *raw[ps:][: _signature_start(top[ps:], sender_name)]]
    return raw[: _signature_start(top, sender_name)]


def _typed_start(top: list[str]) -> int:
    """The line below the last command and the first typed line: where boilerplate may begin."""
    last_command = max((i for i, line in enumerate(top) if COMMAND_LINE.match(line)), default=-1)
    first_text = next((i for i, line in enumerate(top) if line), len(top))
    return max(last_command, first_text) + 1


# --------------------------------------------------------------------------- quote start


def _own_quote_start(lines: list[str]) -> int:
    """Index of the first line of the quoted thread by our rules, len(lines) if none."""
    skip_to, inner = 0, 0
    for i, line in enumerate(lines):
        if i < skip_to:
            continue
        if (_is_quoted(lines, i) and inner < _INNER_QUOTES
                and (after := _quote_inside_note(lines, i)) is not None):
            skip_to, inner = after, inner + 1  # the typed text goes on below a line it quotes
            continue
        if _is_quoted(lines, i) or _MUTT.match(line):
            return _attribution_above(lines, i)
        if _is_separator(line) or qh.LIST_FOOTER.match(line):
            return i
        if qh.FROM_LINE.match(line) and _fields_follow(lines, i):
            return i
        head = line[:_LIB_MAX_LINE]
        if qh.WROTE_END.search(head) and _quote_below(lines, i):
            start = _attribution_start(lines, i)
            if start is not None:
                return start
        # Every other attribution has a ":" or "--" (a cheap test before the long patterns).
        if not (":" in head or "：" in head or "--" in head):
            continue
        if qh.ATTRIBUTION_END.search(head) or qh.WROTE_THEN_QUOTE.search(head):
            start = _attribution_start(lines, i)
            if start is not None:
                return start
    return len(lines)


def _quote_inside_note(lines: list[str], i: int) -> int | None:
    """A few ">" lines the sender quoted inside their own text: typed text right above (no
    attribution) and typed text right below.  Returns the line after the block, None when
    the ">" lines at ``i`` start the quoted thread."""
    above = i - 1
    if above < 0 or not lines[above] or _attribution_above(lines, i) != i:
        return None
    end = i
    while end < len(lines) and _is_quoted(lines, end):
        end += 1
    if end - i > _INNER_QUOTE_LINES or end >= len(lines):
        return None
    below = lines[end]
    if not below or _is_footer(below) or _is_separator(below) or qh.LIST_FOOTER.match(below):
        return None
    if qh.FROM_LINE.match(below) or qh.ATTRIBUTION_END.search(below[:_LIB_MAX_LINE]):
        return None  # the next quote begins: this one was the thread
    return end


def _quote_below(lines: list[str], i: int) -> bool:
    """An attribution without a colon ends its paragraph: a blank line, a ">" line or the end
    of the text follows ("... the resident wrote" goes on in the next line of a sentence)."""
    return i + 1 >= len(lines) or not lines[i + 1] or _is_quoted(lines, i + 1)


def _ends_attribution(line: str) -> bool:
    return line.endswith((":", "：")) or bool(qh.WROTE_END.search(line[:_LIB_MAX_LINE]))


def _is_separator(line: str) -> bool:
    if not qh.SEPARATOR.match(line):
        return False
    return line.startswith("_") or bool(qh.SEPARATOR_WORDS.search(line))


def _fields_follow(lines: list[str], i: int) -> bool:
    """A From line followed (within three lines: an address may wrap) by another field;
    two fields when the From line names no address ("From: the market / To: the depot" in
    an officer's note is a route, not a header)."""
    fields = sum(1 for n in lines[i + 1 : i + 6] if qh.FIELD_LINE.match(n))
    named = "@" in " ".join(lines[i : i + 2]) or "<" in lines[i]
    return fields >= (1 if named else 2)


def _is_quoted(lines: list[str], i: int) -> bool:
    """A ">" line; ">text" (no space) only next to another ">" line."""
    if _QUOTED.match(lines[i]):
        return True
    if not lines[i].startswith(">"):
        return False
    return any(lines[j].startswith(">") for j in (i - 1, i + 1) if 0 <= j < len(lines))


def _attribution_start(lines: list[str], end: int) -> int | None:
    """First line of an attribution ending on line ``end`` (it names a writer: "wrote" in
    some language); the nearest start wins, so an officer's line just above (e.g. one
    starting with a digit) is never taken with it."""
    for start in range(end, max(end - _MAX_WINDOW, -1), -1):
        window = lines[start : end + 1]
        if not all(window):
            return None  # attributions are never split by a blank line
        joined = " ".join(window)
        if (_ATTR_START.match(window[0]) and _HAS_TIME_OR_ADDRESS.search(joined)
                and qh.WROTE.search(joined)):
            return start
    return None


def _attribution_above(lines: list[str], quote: int) -> int:
    """Start of a quote block: include an attribution ending with ":" just above it (one
    blank line apart at most), even in a language we have no rule for."""
    i = quote - 1
    if i >= 0 and not lines[i]:
        i -= 1
    if i < 0 or not _ends_attribution(lines[i]):
        return quote
    start = _paragraph_start(lines, i)
    joined = " ".join(lines[start : i + 1])
    if not _HAS_TIME_OR_ADDRESS.search(joined):
        return quote
    if i - start < _MAX_WINDOW:
        return start
    named = _attribution_start(lines, i)
    return i if named is None else named


def _header_above(lines: list[str], own: int) -> int:
    """The quote header of the desk's own mail, in whatever language: one line standing
    alone right above it, not a sentence and not a command."""
    above = own - 1
    if own >= len(lines):
        return own  # no own mail: the last line is the sender's, not a header above it
    if above < 1 or not lines[above] or lines[above - 1]:
        return own
    line = lines[above]
    if len(line) > _FOOTER_WIDTH or line.endswith(".") or COMMAND_LINE.match(line):
        return own
    return above


def _paragraph_start(lines: list[str], i: int) -> int:
    while i > 0 and lines[i - 1]:
        i -= 1
    return i


def _dangling_attribution(top: list[str]) -> int:
    """An attribution left at the end once an HTML quote container was cut away: the last
    short paragraph ending with ":" that names a time or an address."""
    end = len(top)
    while end and not top[end - 1]:
        end -= 1
    if not end or not _ends_attribution(top[end - 1]):
        return len(top)
    start = _paragraph_start(top, end - 1)
    joined = " ".join(top[start:end])
    if end - start <= _MAX_WINDOW and _HAS_TIME_OR_ADDRESS.search(joined) and start > 0:
        return start
    return len(top)


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
    replies = EmailMessage(text, languages=_LIB_LANGUAGES, keep_hyphen_lists=True).read().replies
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


def _library_cut(lines: list[str]) -> int:
    """The library's cut, unless it is at a From:/To: pair of a note that names no address
    (its Outlook rule takes "From: the market / To: the depot" for a header)."""
    cut = _library_quote_start(lines)
    if cut < len(lines) and qh.FROM_LINE.match(lines[cut]) and not _fields_follow(lines, cut):
        return len(lines)
    return cut


def _header_block_start(lines: list[str]) -> int:
    """A From: block where the library saw no quote: it is shown only the first
    _LIB_MAX_CHARS, and an unmarked quote it misses would bring the notification's
    "#close NOTE" help lines along."""
    for i, line in enumerate(lines):
        if qh.FROM_LINE.match(line) and _fields_follow(lines, i):
            return i
    return len(lines)


# --------------------------------------------------------------------------- signatures


def _signature_start(top: list[str], sender_name: str) -> int:
    """First line of a client or officer signature, len(top) if none.  Never above a
    command line: "Regards" or "-- " followed by "#close" is not the end of the reply."""
    last_command = max((i for i, line in enumerate(top) if COMMAND_LINE.match(line)), default=-1)
    first_text = next((i for i, line in enumerate(top) if line), len(top))
    block = _block_start(top)
    ends = _ends_the_text(top)
    cut = len(top)
    for i in range(max(last_command + 1, first_text), len(top)):
        line = top[i]
        if (_DELIMITER.match(line) or qh.LIST_FOOTER.match(line)
                or (ends[i] and _is_footer(line))):
            cut = i
            break
        if i > first_text and i >= block and qh.SIGN_OFF.match(line):
            return i
    # A name typed by hand ends the text, also right above a client's footer or "-- ".
    last = max((i for i, line in enumerate(top[:cut]) if line), default=-1)
    if last > max(first_text, last_command):
        if _dash_name(top, last):
            return last
        named = _own_name_block(top, sender_name, first_text, last)
        if named is None:
            named = _rank_block(top, first_text, last)
        if named is not None and named > last_command:
            return named
    return cut


def _is_footer(line: str) -> bool:
    if len(line) > _FOOTER_WIDTH * 3:
        return False
    bare = qh.FOOTER_LINK.sub(lambda m: m.group(1) or "", line).strip()
    if qh.LOCAL_FOOTER.match(bare):
        return True
    if not qh.CLIENT_FOOTER.match(bare):
        return False
    # "Sent from <place> ..." is a sentence unless it names a product or links to one.
    named = qh.SENT_VIA.match(bare)
    if named is None or bare != line.strip():
        return True
    product = qh.PRODUCT_NAME if named.group(1).lower() == "from" else qh.PRODUCT_START
    return bool(product.match(named.group(2)))


def _ends_the_text(top: list[str]) -> list[bool]:
    """For each line: below it only blank lines, client footers or a short name block (at
    most _SIGNATURE_LINES short lines, no sentence, no command).  One pass from the end."""
    ends = [False] * len(top)
    others, ok = 0, True
    for i in range(len(top) - 1, -1, -1):
        ends[i] = ok and others <= _SIGNATURE_LINES
        if not ends[i]:
            break  # nothing above ends the text either
        line = top[i]
        if line and not _is_footer(line):
            others += 1
            ok = ok and len(line) <= _NAME_WIDTH and not line.endswith(".") and not (
                COMMAND_LINE.match(line))
    return ends


def _dash_name(top: list[str], last: int) -> bool:
    """"-Ravi" as the last line, not the last item of a "- " list."""
    if not qh.DASH_NAME.match(top[last]):
        return False
    words = top[last].lstrip("-–—~ ").split()
    if not all(w[0].isupper() or not w[0].isascii() for w in words):
        return False  # "- two witnesses examined" is a list item
    above = next((line for line in reversed(top[:last]) if line), "")
    return not above.startswith(("-", "–", "*", "•"))


def _own_name_block(top: list[str], sender_name: str, first_text: int, last: int) -> int | None:
    """The sender's own name (from the From header) opening the last short paragraph: a
    signature typed by hand ("Sudip Sarkar / SI, Tollygunge PS")."""
    words = set(re.findall(r"[^\W\d_]{2,}", sender_name.lower()))
    if not words:
        return None
    start = _paragraph_start(top, last)
    if start <= first_text or last - start >= _SIGNATURE_LINES:
        return None
    if any(len(line) > _SIGNATURE_WIDTH for line in top[start : last + 1]):
        return None
    # "Subhajit Roy | Sub-Inspector | Behala PS": the name up to the first separator
    name = re.split(r"\s[|/–—-]\s|[|,]", top[start], maxsplit=1)[0]
    named = set(re.findall(r"[^\W\d_]{2,}", name.lower()))
    return start if named and named <= words | {"si", "asi", "oc", "ic", "dr", "mr", "ms"} and (
        named & words) else None


def _rank_block(top: list[str], first_text: int, last: int) -> int | None:
    """An officer's name and rank ending the text, in any script: two to four short lines,
    no sentence, one of them a rank ("Rafiq / SI Behala PS", "प्रदीप कुमार सिंह / उप निरीक्षक,
    लेक टाउन थाना"), the first a name or a rank; a sign-off line right above goes with it."""
    if not _block_line(top[last]):
        return None
    start = last
    while (start > first_text + 1 and last - start < 3 and top[start - 1]
           and _block_line(top[start - 1])):
        start -= 1
    block = top[start : last + 1]
    if len(block) < 2:
        return None
    if not any(_rank_line(line) for line in block):
        return None
    if not (_rank_line(block[0]) or _name_line(block[0])):
        return None
    # Straight under the text, without a blank line, only a one- or two-word name starts it.
    if top[start - 1] and len(block[0].split()) > 2:
        return None
    above = start - 1 if top[start - 1] else start - 2
    if above > first_text and qh.SIGN_OFF.match(top[above]):
        return above
    return start


def _block_line(line: str) -> bool:
    # a full stop ends a sentence, but not an abbreviation ("P.S.", "पो.स्टे.", "Ph.")
    last = line.rsplit(" ", 1)[-1]
    sentence = line.endswith(("।", "?", "!", ":")) or (
        line.endswith(".") and last.count(".") < 2 and len(last) > 4)
    return (0 < len(line) <= _NAME_WIDTH + 8 and not sentence
            and not COMMAND_LINE.match(line) and not qh.SIGN_OFF.match(line))


def _rank_line(line: str) -> bool:
    """A rank with a name or a station: a few words, the Latin ones capitalised."""
    words = line.replace(",", " ").split()
    return bool(qh.RANK.search(line)) and len(words) <= 6 and all(_capital(w) for w in words)


def _name_line(line: str) -> bool:
    """A name: up to four capitalised words, or up to three in a script without capitals."""
    words = line.replace(".", ". ").split()
    latin = all(w.isascii() for w in words)
    return 0 < len(words) <= (4 if latin else 3) and all(
        _capital(w) and not any(c.isdigit() for c in w) for w in words)


def _capital(word: str) -> bool:
    return word[0].isupper() or not word[0].isascii() or not word[0].isalpha() or word in (
        "of", "and")


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
