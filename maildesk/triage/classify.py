"""Stage: classify a complaint as urgent, semi-urgent or non-urgent, and say why.

How a mail is scored (every number comes from the policy file, maildesk/triage/policy.yaml,
and a station's own rules file on top of it):

1. The subject, the new text and the quoted tail of a reply (lines starting with ">", and
   everything after an "On ... wrote:" or "-----Original Message-----" line) are normalised
   (`maildesk.triage.normalise`) and cut into words, sentences and clauses.  Only the first
   `max_chars` characters of the text are read, so a 1 MB mail costs no more than a long one.
2. Phrases are found (`maildesk.triage.phrases`).  Where phrases overlap the longest wins: a
   trap such as "killing time" hides the "kill*" inside it.
3. Each urgent / semi-urgent / non-urgent phrase contributes its weight, times
   - the subject factor in the subject, the quoted factor in a quoted tail;
   - 0 when a negation stands within a few words before it ("no one is hurt") or after it
     ("कोई घायल नहीं", "কেউ আহত হয়নি") in the same clause;
   - the factors of the contexts of its sentence: "last year" (long ago), "yesterday",
     "every day" (habitual), "film" or "drill" (not real), "forwarded as received"
     (rumour)...; a context also holds for the next few sentences of its paragraph, and a
     "now" signal or a newer time ends a past one.
   A phrase found several times counts once, with its best occurrence.  The phrases found
   only in a quoted tail add together at most weights.quoted x the urgent threshold.
4. urgent score = sum of urgent contributions, plus the weights of "now" signals ("right
   now", "abhi", "এখনই"; at most `max_boost`) when some urgent phrase speaks of the present;
   times the calm factor when the mail says all is safe ("everyone is safe").
   It is urgent at `thresholds.urgent`.  Otherwise
   semi-urgent score = urgent score + semi-urgent contributions - non-urgent contributions,
   semi-urgent at `thresholds.semi_urgent`; otherwise non-urgent.
5. The policy's structure (TRIAGE.md) then decides what the scores alone would miss:
   - the categories of harm the mail touches (threat to life, violence now, a missing minor
     or vulnerable adult, kidnapping or confinement, sexual assault, suicide or self-harm,
     fire / gas / collapse, weapons, someone injured and helpless), each told as present: not
     quoted, not negated in its own clause ("nobody is hurt" does not undo "the child is
     locked in"), not in a sentence framed as long ago, fiction or resolved.  A time word
     such as "yesterday" does not end a harm.  Who is at risk (child, elderly, woman alone,
     a third person) is named;
   - a mail touching a harm, or with an urgent score from close_to_urgent.fraction of the
     threshold, is urgent unless it says all is safe: "close to urgent: treated as urgent";
   - below semi-urgent by score, a concern that needs action within a day (theft, harassment,
     fraud, a hazard...) makes it semi-urgent.
6. The statistical second opinion (maildesk.triage.model), when the policy enables it, may
   raise the decision to urgent, never lower it.
7. The reasons list every harm, phrase and signal that counted or was discounted, with where
   it stood and why, most important first, the model's vote, and end with the two scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate

from maildesk.mail.patterns import is_reply_subject
from maildesk.triage.model import MAX_CHARS as MODEL_CHARS
from maildesk.triage.normalise import WORD, normalise
from maildesk.triage.phrases import CONTENT_PRIORITY, Frame, Match, Rules

__all__ = ["Classification", "classify"]

MAX_SUBJECT_CHARS = 1000
MAX_REASONS = 12  # phrase reasons shown; the summary line is always added

# One scan of a part's normalised text finds its words, the marks that end a clause (, ; : ( )
# " / and a dash between spaces) and the ends of sentences (. ! ? and blank lines).
_ITEMS = re.compile(rf"{WORD}|[,;:()\"/]|(?<=\s)-+(?=\s)|\n[ \t\r]*\n|[.!?]+")
# Mail typed on a phone often ends each sentence with a line break and no full stop: where
# line breaks far outnumber the marks that end sentences, each line is a sentence (else one
# "abhi" on the last line would make every line of the mail "now").
_LINE_END = re.compile(r"(?<!\n)[ \t\r]*\n(?![ \t\r]*\n)")
_STOPS = re.compile(r"[.!?।]")
_CLAUSE, _SENTENCE_END, _BLANK_LINE = 1, 2, 3
_MARKS = dict.fromkeys(',;:()"/-', _CLAUSE) | dict.fromkeys(".!?", _SENTENCE_END) | {
    "\n": _BLANK_LINE}  # an item's first character -> its kind (words are not listed)
# A full stop after these (and after a single Latin letter: "p.m.", "S.I.", "P.S.") shortens
# a word; it does not end the sentence, or "locked Mr. Kamble inside" would be cut in two.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr smt shri sri sh km kum prof sr jr st rd no nos rs approx ltd pvt co vs "
    "hon insp const asst dy addl sec flt bldg nr opp ph mob tel".split()) | frozenset(
    "डॉ श्री श्रीमती कु सं".split())
_REPLY_HEADER = re.compile(
    r"^\s*(?:-{2,}\s*original message\s*-{2,}"
    r"|on\b.{0,300}\bwrote:"
    r"|.{0,300}(?:लिखा|লিখেছেন|লিখেছে|लिहिले)\s*:)\s*$",
    re.IGNORECASE,
)
_LABEL = {"urgent": "urgent", "semi_urgent": "semi-urgent", "non_urgent": "non-urgent"}
_WHERE = ("subject", "text", "quoted text", "subject of a reply")
_SUBJECT, _TEXT, _QUOTED, _REPLY = 0, 1, 2, 3
_CONTENT = ("urgent", "semi_urgent", "non_urgent")
_PRIORITY = {kind: i for i, kind in enumerate(CONTENT_PRIORITY)}
_HARM_KINDS = ("harm", "who", "concern")


@dataclass(frozen=True)
class Classification:
    urgency: str  # urgent | semi_urgent | non_urgent
    score: float
    reasons: tuple[str, ...]
    urgent_score: float = 0.0
    semi_urgent_score: float = 0.0


@dataclass
class _Words:
    tokens: list[str]  # normalised words of subject and text
    sentence: list[int]  # sentence number of each word (numbered from 1)
    breaks: list[int]  # indexes of the words that start a clause (may repeat)
    where: list[int]  # _SUBJECT, _TEXT, _QUOTED or _REPLY
    paragraph: list[int]  # paragraph number of each sentence (index: sentence - 1)
    place: list[int]  # where each sentence stands (index: sentence - 1)


def _segments(subject: str, text: str, max_chars: int) -> list[tuple[str, int]]:
    """(part, where) pieces: the subject, then the text split into new and quoted parts.

    The subject of a reply ("Re: ...") names the old thread, so it counts as quoted."""
    subject = subject[:MAX_SUBJECT_CHARS]
    parts = [(subject, 3 if is_reply_subject(subject) else 0)]
    text = text[:max_chars]
    if ">" not in text and "wrote:" not in text.lower() and not re.search(
            r"original message|लिखा|লিখে|लिहिले", text, re.IGNORECASE):
        parts.append((text, 1))
        return parts
    current, lines, tail = 1, [], False
    for line in text.split("\n"):
        if not tail and _REPLY_HEADER.match(line):
            tail = True
        where = 2 if tail or line.lstrip().startswith(">") else 1
        if where != current and lines:
            parts.append(("\n".join(lines), current))
            lines = []
        current = where
        lines.append(line)
    if lines:
        parts.append(("\n".join(lines), current))
    return parts


def _words(parts: list[tuple[str, int]], normalised: list[str]) -> _Words:
    """Cut the parts (their `normalised` texts) into words, numbering sentences, clauses and
    paragraphs.  A sentence is numbered only if it holds a word."""
    tokens: list[str] = []
    sentence: list[int] = []
    breaks: list[int] = []  # word indexes where a clause starts
    where: list[int] = []
    paragraph: list[int] = []  # per sentence
    places: list[int] = []  # per sentence
    sid, pid = 0, 0
    kind_of = _MARKS.get
    add_token, add_sentence = tokens.append, sentence.append
    for (text, place), norm in zip(parts, normalised, strict=True):
        if not text:
            continue
        pid += 1
        start = len(tokens)
        open_sentence = False  # a sentence with words has begun and not ended
        lines = norm.count("\n")
        if lines >= 2 and len(_STOPS.findall(norm)) * 2 < lines:
            norm = _LINE_END.sub(" .\n", norm)
        for item in _ITEMS.findall(norm):
            kind = kind_of(item[0])
            if kind is None:  # a word
                if not open_sentence:
                    open_sentence = True
                    sid += 1
                    paragraph.append(pid)
                    places.append(place)
                    breaks.append(len(tokens))
                add_token(item)
                add_sentence(sid)
            elif kind == _CLAUSE:  # the next word starts a clause
                breaks.append(len(tokens))
            elif (item == "." and open_sentence
                  and (tokens[-1] in _ABBREVIATIONS
                       or (len(tokens[-1]) == 1 and tokens[-1].isascii()))):
                continue  # an abbreviation's full stop
            else:
                open_sentence = False
                if kind == _BLANK_LINE:
                    pid += 1
        where += [place] * (len(tokens) - start)
    return _Words(tokens, sentence, breaks, where, paragraph, places)


def _resolve(matches: list[Match], n: int) -> tuple[list[Match], list[tuple[Match, Match]]]:
    """Keep the longest of overlapping content phrases and signals (ties: by kind).

    Returns the kept matches in text order and the (trap, hidden match) pairs."""
    ordered = sorted(matches, key=lambda m: (m.start - m.end, _PRIORITY[m.phrase.kind],
                                             -abs(m.phrase.weight), m.start))
    taken = bytearray(n)
    kept: list[Match] = []
    hidden: list[tuple[Match, Match]] = []  # (trap, what it hid)
    owner: dict[int, Match] = {}
    for match in ordered:
        span = range(match.start, match.end)
        if any(taken[i] for i in span):
            blocker = next(owner[i] for i in span if taken[i])
            if blocker.phrase.kind == "trap" and match.phrase.kind != "trap":
                hidden.append((blocker, match))
            continue
        for i in span:
            taken[i] = 1
            owner[i] = match
        kept.append(match)
    kept.sort(key=lambda m: m.start)
    return kept, hidden


def _together(rules: Rules, parts: list[Match], sentence: list[int], tokens: list[str]
              ) -> tuple[list[Match], list[Match], dict[Match, list[Match]]]:
    """Matches of "a + b" phrases: every part found in one sentence.  Each spans from its
    first part to its last and takes no words from other phrases.  Returns the matches, the
    part matches they are made of, and the parts of each (to show it, see _shown)."""
    if not parts:
        return [], [], {}
    found: dict[tuple[int, int], dict[int, Match]] = {}  # (whole, sentence) -> part -> match
    for match in parts:
        key = (match.phrase.whole, sentence[match.start])
        found.setdefault(key, {}).setdefault(match.phrase.part, match)
    result: list[Match] = []
    used: list[Match] = []
    shown: dict[Match, list[Match]] = {}
    for (whole, _), by_part in found.items():
        phrase = rules.phrases[whole]
        if len(by_part) < phrase.count:
            continue
        ordered = sorted(by_part.values(), key=lambda m: m.start)
        match = Match(phrase, ordered[0].start, ordered[-1].end)
        result.append(match)
        used.extend(ordered)
        shown[match] = ordered
    return result, used, shown


def _present(frame: Frame) -> bool:
    """A time that scales nothing ("today", "again", "since last week"): like a "now" signal
    it cancels an older time named in the same sentence.  "Threatening messages again from
    the man convicted in 2015" is about the messages, not about 2015."""
    return frame.past and all(factor >= 1 for factor in frame.factors.values())


def _subject_time(rules: Rules, anchors: dict[int, list[Match]], places: list[int]
                  ) -> tuple[str, Match] | None:
    """The time or frame a subject naming none takes from the text: the text's first, if it
    is a past and the text names no other time after it ("two years ago my bike was stolen,
    and again this morning" is about this morning, not about two years ago), or if it is a
    frame that ends a harm beyond its own sentence (a film being shot, the news retold):
    "Subject: shooting / we want to shoot a short film" asks for a permission."""
    contexts = rules.contexts
    first: tuple[str, Match] | None = None
    for sid in sorted(anchors):
        if places[sid - 1] != _TEXT:
            continue
        own = anchors[sid]
        times = [m for m in own if m.phrase.kind == "time"]
        if first is None:
            if any(m.phrase.kind == "now" for m in own):
                return None
            # a frame held by its own sentence only (carry 0: "a game", "in case") stays there
            framed = [m for m in times if contexts[m.phrase.scope].past or (
                m.phrase.scope in rules.harm_ends and contexts[m.phrase.scope].carry > 0)]
            if not framed:
                return None
            first = (framed[0].phrase.scope, framed[0])
            if not contexts[first[0]].past:
                return first
            if any(m.phrase.scope != first[0] for m in times):
                return None
        elif any(m.phrase.scope != first[0] for m in times):
            return None
    return first


def _sentence_contexts(rules: Rules, kept: list[Match], sentence: list[int],
                       paragraph: list[int], places: list[int]
                       ) -> dict[int, list[tuple[str, Match]]]:
    """sentence -> [(context name, the phrase that set it)].

    A context named in a sentence holds for it and for the next `carry` sentences of the
    paragraph.  A "now" signal, or another past time, ends a past context.  The past named in
    the subject holds for the text until the text names a time of its own; a subject naming
    no time takes the time the text names first, if that is a past."""
    contexts = rules.contexts
    anchors: dict[int, list[Match]] = {}
    for match in kept:
        if match.phrase.kind in ("now", "time"):
            anchors.setdefault(sentence[match.start], []).append(match)
    if not any(m.phrase.kind == "time" for found in anchors.values() for m in found):
        return {}  # no context named: nothing to scale
    body_past = _subject_time(rules, anchors, places)
    result: dict[int, list[tuple[str, Match]]] = {}
    active: dict[str, list] = {}  # name -> [anchor, sentences left]
    subject_past: list[tuple[str, Match]] = []
    body_has_time = False
    last_paragraph = None
    for sid in range(1, len(places) + 1):
        place = places[sid - 1]
        in_subject = place in (_SUBJECT, _REPLY)
        this_paragraph = paragraph[sid - 1]
        if this_paragraph != last_paragraph:
            active, last_paragraph = {}, this_paragraph
        own = anchors.get(sid, [])
        own_times = [m for m in own if m.phrase.kind == "time"]
        has_now = any(m.phrase.kind == "now" for m in own) or any(
            _present(contexts[m.phrase.scope]) for m in own_times)
        own_past = [m for m in own_times if contexts[m.phrase.scope].past]
        if has_now or own_past:
            active = {k: v for k, v in active.items() if not contexts[k].past}
            if place == _TEXT:
                body_has_time = True
        effective: dict[str, Match] = {}
        for m in own_times:
            if not (has_now and contexts[m.phrase.scope].past):
                effective.setdefault(m.phrase.scope, m)
        for name, state in list(active.items()):
            if name not in effective and state[1] > 0:
                effective[name] = state[0]
                state[1] -= 1
        if place == _TEXT and not body_has_time and not any(
                contexts[k].past for k in effective):
            for name, m in subject_past:
                effective.setdefault(name, m)
        if in_subject and not own and body_past is not None:
            effective.setdefault(*body_past)
        for m in own_times:
            if effective.get(m.phrase.scope) is m:
                active[m.phrase.scope] = [m, contexts[m.phrase.scope].carry]
        if in_subject:
            subject_past = [(k, m) for k, m in effective.items()
                            if contexts[k].past and sentence[m.start] == sid]
        if effective:
            result[sid] = list(effective.items())
    return result


def _fmt(value: float) -> str:
    return f"{round(value, 2):g}"


def _shown(match: Match, tokens: list[str], rule: bool = True,
           shown_as: dict[Match, list[Match]] | None = None) -> str:
    """The words found (in the rule's spelling), and the rule when it reads differently."""
    phrase = match.phrase
    if shown_as and match in shown_as:
        # an "a + b" phrase: its parts as found (only built for the reasons shown)
        found = " + ".join(m.phrase.shown(tokens[m.start:m.end]) for m in shown_as[match])
    else:
        found = phrase.shown(tokens[match.start:match.end])
    if len(found) > 60:
        found = found[:57] + "..."
    if not rule or phrase.text == found:
        return f'"{found}"'
    text = phrase.text if len(phrase.text) <= 40 else phrase.text[:37] + "..."
    return f'"{found}" (rule "{text}", line {phrase.line})'


def _listed(matches: Iterable[Match], tokens: list[str], where: list[int]) -> str:
    shown = [f"{_shown(m, tokens, rule=False)} in {_WHERE[where[m.start]]}"
             for m in list(matches)[:4]]
    return ", ".join(shown)


def _harms(rules: Rules, found: list[Match], kept: list[Match], tokens: list[str],
           where: list[int], sentence: list[int],
           contexts: dict[int, list[tuple[str, Match]]],
           negated_by: Callable[[Match], Match | None],
           parts_of: dict[Match, list[Match]]
           ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """The categories of harm the mail touches, who is at risk, and the semi-urgent concerns
    it touches, each as (name, words shown).

    A harm counts where it is told as present: not in a quoted tail, not inside a trap ("fire
    NOC"), not negated in its own clause (a negation elsewhere, "nobody is hurt", reaches
    only its own fact), and not in a sentence whose context ends it (long ago, a film, the
    matter resolved).  A time word such as "yesterday" does not end a harm: "he left
    yesterday" does not age "they called demanding ransom"."""
    if not found:
        return [], [], []
    traps = bytearray(len(tokens))
    for match in kept:
        if match.phrase.kind == "trap":
            for i in range(match.start, match.end):
                traps[i] = 1
    tables: dict[str, dict[str, str]] = {"harm": {}, "who": {}, "concern": {}}
    for match in sorted(found, key=lambda m: m.start):
        kind = match.phrase.kind
        table = tables[kind]
        name = match.phrase.scope
        if name in table or where[match.start] in (_QUOTED, _REPLY):
            continue
        # inside a trap ("fire NOC"): for "a + b", the words of a part, not those between
        if traps[match.start] or traps[match.end - 1] or (
                not match.phrase.parts and any(traps[match.start:match.end])):
            continue
        # an "a + b" harm is negated when any of its parts is: "current nahi laga"
        if kind != "who" and any(negated_by(part) is not None
                                 for part in parts_of.get(match, (match,))):
            continue
        ends = {context for context, _ in contexts.get(sentence[match.start], ())}
        if kind != "who" and ends & set(rules.harm_ends):
            continue
        if kind == "concern" and ends & set(rules.concern_ends):
            continue
        words = " ".join(tokens[match.start:match.end])
        words = words[:37] + "..." if len(words) > 40 else words
        rule = match.phrase.text
        rule = rule[:37] + "..." if len(rule) > 40 else rule
        table[name] = f'"{words}" (rule "{rule}", line {match.phrase.line})'
    harms, who, concerns = (list(tables[k].items()) for k in ("harm", "who", "concern"))
    return harms, (who if harms else []), concerns


def _model_threshold(rules: Rules, urgency: str) -> float:
    """The model's score that makes it vote urgent: higher over a mail the rules already call
    semi-urgent (second_opinion.over_semi_urgent), its own threshold otherwise."""
    assert rules.model is not None
    if urgency == "semi_urgent" and rules.model_over_semi is not None:
        return rules.model_over_semi
    return rules.model.threshold


def classify(rules: Rules, subject: str, text: str) -> Classification:
    """The rules' decision, raised to urgent where the statistical second opinion says so
    (it never lowers one); its vote is listed in the reasons."""
    parts = _segments(subject or "", text or "", rules.max_chars)
    normalised = [normalise(part) if part else "" for part, _ in parts]
    decision = _by_rules(rules, parts, normalised)
    if rules.model is None:
        return decision
    # the model reads what the writer wrote now: not a quoted tail, nor a reply's subject
    new_subject = parts[0][0] if parts[0][1] == _SUBJECT else ""
    new_text = [k for k in range(1, len(parts)) if parts[k][1] == _TEXT]
    if len(new_text) == 1 and len(parts[new_text[0]][0]) <= MODEL_CHARS:
        vote = rules.model.score_normalised(normalised[0] if new_subject else "",
                                            normalised[new_text[0]])
    else:
        vote = rules.model.score(new_subject, "\n".join(parts[k][0] for k in new_text))
    threshold = _model_threshold(rules, decision.urgency)
    says = vote >= threshold
    note = (f"second opinion (character model): {'urgent' if says else 'not urgent'}, "
            f"score {vote:.2f} (urgent from {threshold:g})")
    raised = says and decision.urgency != "urgent"
    if raised:
        note += ": raised to urgent"
    # the summary of the scores stays the last reason
    reasons = (*decision.reasons[:-1], note, decision.reasons[-1])
    return Classification("urgent" if raised else decision.urgency, decision.score, reasons,
                          decision.urgent_score, decision.semi_urgent_score)


@dataclass
class _Found:
    """What the matcher found in a mail, sorted by role."""

    info: _Words
    kept: list[Match]  # content phrases and signals, overlaps resolved
    hidden: list[tuple[Match, Match]]  # (trap, what it hid)
    together: list[Match]  # "a + b" content phrases found whole
    used_parts: list[Match]  # the parts they are made of
    shown_as: dict[Match, list[Match]]
    negations: list[Match]
    harm_found: list[Match]  # harm, who is at risk, concerns
    clause: list[int]  # clause number of each word


@dataclass
class _Scored:
    """Each content phrase's best contribution, and the signals that count."""

    # phrase id -> (value, where, factors: (factor, what, the phrase that set it or None));
    # the factors are written out only for the reasons shown
    best: dict[int, tuple[float, Match, list[tuple[float, str, Match | None]]]]
    negated: dict[int, tuple[Match, Match]]  # phrase id -> (match, the negation cancelling it)
    quoted_best: set[int]  # phrases whose best occurrence is quoted
    fresh_urgent: bool  # an urgent phrase speaks of the present
    now_signals: dict[int, Match]
    calm: list[Match]


def _find(rules: Rules, parts: list[tuple[str, int]], normalised: list[str]) -> _Found:
    """Step 1: cut the mail (its _segments, `normalised`) into words and find every phrase,
    each put in its role."""
    info = _words(parts, normalised)
    tokens, sentence, n = info.tokens, info.sentence, len(info.tokens)
    starts = bytearray(n + 1)  # 1 where a clause starts
    for i in info.breaks:
        starts[i] = 1
    negations: list[Match] = []
    harm_found: list[Match] = []
    competing: list[Match] = []
    parts: list[Match] = []
    for match in rules.matcher.find(tokens, sentence, rules.phrases):
        kind = match.phrase.kind
        if kind == "clause_break":
            starts[match.start] = 1
        elif kind in ("neg_before", "neg_after"):
            negations.append(match)
        elif kind == "part":
            parts.append(match)
        elif kind in _HARM_KINDS:
            harm_found.append(match)
        else:
            competing.append(match)
    kept, hidden = _resolve(competing, n)
    together, used_parts, shown_as = _together(rules, parts, sentence, tokens)
    harm_found += [m for m in together if m.phrase.kind in _HARM_KINDS]
    together = [m for m in together if m.phrase.kind not in _HARM_KINDS]
    return _Found(info, kept, hidden, together, used_parts, shown_as, negations, harm_found,
                  list(accumulate(starts[:n])))


def _negation(rules: Rules, found: _Found) -> Callable[[Match], Match | None]:
    """Step 2: which negation, if any, cancels a phrase.  A negation reaches only within its
    clause and a few words, and one that is part of a phrase ("not breathing") negates
    nothing."""
    sentence, clause, n = found.info.sentence, found.clause, len(found.info.tokens)
    inside = bytearray(n)
    # an "a + b" match covers the words between its parts too: only its parts are marked
    harms = [m for m in found.harm_found if m not in found.shown_as]
    for match in (*found.kept, *found.used_parts, *harms):
        if match.phrase.kind in _CONTENT or match.phrase.kind in ("trap", "part", "harm",
                                                                   "concern"):
            for i in range(match.start, match.end):
                inside[i] = 1
    cue_ending: dict[int, Match] = {}  # last word -> negation that reaches forward
    cue_starting: dict[int, Match] = {}  # first word -> negation that reaches back
    for cue in found.negations:
        if any(inside[i] for i in range(cue.start, cue.end)):
            continue
        if cue.phrase.kind == "neg_before":
            cue_ending.setdefault(cue.end - 1, cue)
        else:
            cue_starting.setdefault(cue.start, cue)

    def negated_by(match: Match) -> Match | None:
        first, last = match.start, match.end - 1
        for i in range(first - 1, max(first - rules.negation_before, 0) - 1, -1):
            if clause[i] != clause[first]:
                break
            if i in cue_ending:
                return cue_ending[i]
        for i in range(last + 1, min(last + 1 + rules.negation_after, n)):
            if clause[i] != clause[last] or sentence[i] != sentence[last]:
                break
            if i in cue_starting:
                return cue_starting[i]
        return None

    return negated_by


def _score_phrases(rules: Rules, found: _Found, contexts: dict[int, list[tuple[str, Match]]],
                   negated_by: Callable[[Match], Match | None]) -> _Scored:
    """Step 3: each content phrase's contribution: its weight times where it stood (subject,
    quoted) and the contexts of its sentence; the best occurrence counts."""
    sentence, where = found.info.sentence, found.info.where
    scored = _Scored({}, {}, set(), False, {}, [])
    best = scored.best
    for match in (*found.kept, *found.together):
        phrase = match.phrase
        kind = phrase.kind
        place = where[match.start]
        quoted = place in (_QUOTED, _REPLY)
        if kind == "now" and not quoted:
            if negated_by(match) is None:
                scored.now_signals.setdefault(id(phrase), match)
            continue
        if kind == "calm" and not quoted:
            if negated_by(match) is None:
                scored.calm.append(match)
            continue
        if kind not in _CONTENT:
            continue
        key = id(phrase)
        cue = negated_by(match)
        if cue is not None:
            if key not in best:
                scored.negated[key] = (match, cue)
            continue
        factor, notes = 1.0, []
        if place == _SUBJECT and rules.subject_factor != 1:
            factor *= rules.subject_factor
            notes.append((rules.subject_factor, "subject", None))
        elif quoted:
            factor *= rules.quoted_factor
            notes.append((rules.quoted_factor, "quoted", None))
        scaled = False
        for name, anchor in contexts.get(sentence[match.start], ()):
            context_factor = rules.contexts[name].factors.get(kind, 1.0)
            if context_factor != 1:
                factor *= context_factor
                scaled = scaled or context_factor < 1
                notes.append((context_factor, name.replace("_", " "), anchor))
        value = phrase.weight * factor
        if kind == "urgent" and not quoted and not scaled:
            scored.fresh_urgent = True  # about the present: "now" signals count
        if key not in best or value > best[key][0]:
            if quoted:
                scored.quoted_best.add(key)
            else:
                scored.quoted_best.discard(key)
            best[key] = (value, match, notes)
            scored.negated.pop(key, None)
    return scored


def _totals(rules: Rules, found: _Found, scored: _Scored) -> dict[str, float]:
    """Step 4: the sum per class.  A quoted tail is old news: it may confirm, never decide;
    together its phrases add at most weights.quoted x the urgent threshold."""
    by_kind = dict.fromkeys(_CONTENT, 0.0)
    from_quotes = dict.fromkeys(_CONTENT, 0.0)
    phrase_of = {id(m.phrase): m.phrase for m in (*found.kept, *found.together)}
    for key, (value, _, _) in scored.best.items():
        (from_quotes if key in scored.quoted_best else by_kind)[phrase_of[key].kind] += value
    cap = rules.quoted_factor * rules.urgent_threshold
    quoted_total = from_quotes["urgent"] + from_quotes["semi_urgent"]
    shrink = min(1.0, cap / quoted_total) if quoted_total else 1.0
    for kind in by_kind:
        by_kind[kind] += from_quotes[kind] * (shrink if kind != "non_urgent" else 1.0)
    return by_kind


def _note(note: tuple[float, str, Match | None], tokens: list[str]) -> str:
    """One factor of a phrase's contribution, as the reasons show it."""
    factor, what, anchor = note
    shown = "" if anchor is None else f": {_shown(anchor, tokens, rule=False)}"
    return f"×{_fmt(factor)} {what}{shown}"


def _phrase_reasons(rules: Rules, found: _Found, scored: _Scored, urgent: float
                    ) -> tuple[list[str], float]:
    """Step 5: the reasons of the phrases and signals, and the urgent score with the "now"
    boost and the calm factor applied."""
    tokens, where = found.info.tokens, found.info.where
    reasons: list[str] = []
    for value, match, notes in sorted(scored.best.values(), key=lambda v: -v[0])[:MAX_REASONS]:
        kind = match.phrase.kind
        detail = f" ({', '.join(_note(note, tokens) for note in notes)})" if notes else ""
        reasons.append(f"{_LABEL[kind]}: {_shown(match, tokens, True, found.shown_as)} in "
                       f"{_WHERE[where[match.start]]} {'-' if kind == 'non_urgent' else '+'}"
                       f"{_fmt(value)}{detail}")
    if scored.fresh_urgent and scored.now_signals:
        boost = min(rules.now_max_boost,
                    sum(m.phrase.weight for m in scored.now_signals.values()))
        if boost > 0:
            urgent += boost
            reasons.append(f"now: {_listed(scored.now_signals.values(), tokens, where)} "
                           f"(+{_fmt(boost)} urgent)")
    if scored.calm and urgent > 0:
        urgent *= rules.calm_factor
        reasons.append(f"calm: {_listed(scored.calm, tokens, where)} "
                       f"(urgent score ×{_fmt(rules.calm_factor)})")
    reasons.extend(f"{_LABEL[match.phrase.kind]}: {_shown(match, tokens, True, found.shown_as)}"
                   f" in {_WHERE[where[match.start]]} not counted: negated by "
                   f"{_shown(cue, tokens)}" for match, cue in scored.negated.values())
    reported: set[str] = set()
    for trap, hid in found.hidden:
        if hid.phrase.kind not in _CONTENT and hid.phrase.kind != "now":
            continue
        note = (f"trap: {_shown(trap, tokens)} in {_WHERE[where[trap.start]]}, so "
                f"{_shown(hid, tokens, rule=False)} not counted")
        if note not in reported:
            reported.add(note)
            reasons.append(note)
    return reasons[:MAX_REASONS], urgent


def _named(items: list[tuple[str, str]], sep: str = "; ") -> str:
    return sep.join(f"{name.replace('_', ' ')} {shown}" for name, shown in items)


def _routine(by_kind: dict[str, float], threshold: float) -> bool:
    """A concern (a theft, a fraud) told inside a routine request (the copy of an FIR, the
    status of an old case, an insurance claim) does not make the mail semi-urgent: the
    non-urgent phrases weigh a semi-urgent threshold or more, and at least as much as the
    urgent and semi-urgent ones together."""
    routine = by_kind["non_urgent"]
    return routine >= threshold and routine >= by_kind["urgent"] + by_kind["semi_urgent"]


def _by_rules(rules: Rules, parts: list[tuple[str, int]], normalised: list[str]
              ) -> Classification:
    """Score the subject (weighted more) and the text against the configured rules, then
    decide (step 6): urgent from the urgent threshold; urgent too, "close to urgent",
    where a category of harm is touched or the score is near the line, unless the mail says
    it is over; then semi-urgent by score or by a concern that needs action within a day."""
    found = _find(rules, parts, normalised)
    negated_by = _negation(rules, found)
    info = found.info
    contexts = _sentence_contexts(rules, found.kept, info.sentence, info.paragraph,
                                  info.place)
    scored = _score_phrases(rules, found, contexts, negated_by)
    by_kind = _totals(rules, found, scored)
    reasons, urgent = _phrase_reasons(rules, found, scored, by_kind["urgent"])
    semi = urgent + by_kind["semi_urgent"] - by_kind["non_urgent"]
    harms, at_risk, concerns = _harms(rules, found.harm_found, found.kept, info.tokens,
                                      info.where, info.sentence, contexts, negated_by,
                                      found.shown_as)
    if harms:  # one line for the harms, one for who is at risk: they come first
        first = ["harm: " + _named(harms)]
        if at_risk:
            first.append("at risk: " + _named(at_risk, ", "))
        reasons = first + reasons[:MAX_REASONS - len(first)]
    if not scored.best and not harms:
        reasons.append("no urgent or semi-urgent phrase found")
    reasons.append(f"urgent score {_fmt(urgent)} (urgent from {_fmt(rules.urgent_threshold)}), "
                   f"semi-urgent score {_fmt(max(semi, 0.0))} "
                   f"(semi-urgent from {_fmt(rules.semi_urgent_threshold)})")

    def decided(urgency: str, value: float) -> Classification:
        return Classification(urgency, round(value, 3), tuple(reasons), urgent, semi)

    if urgent >= rules.urgent_threshold:
        return decided("urgent", urgent)
    close = urgent >= rules.close_fraction * rules.urgent_threshold
    if rules.err_urgent and not scored.calm and (harms or close):
        why = ("touches a category of harm with no sign that it is over" if harms else
               f"urgent score within {_fmt(1 - rules.close_fraction)} of the line")
        reasons.insert(-1, f"close to urgent: treated as urgent ({why})")
        return decided("urgent", urgent)
    if semi >= rules.semi_urgent_threshold:
        return decided("semi_urgent", semi)
    if concerns and _routine(by_kind, rules.semi_urgent_threshold):
        reasons.insert(-1, "routine request outweighs: " + _named(concerns, ", ")
                       + " (a copy, a status, a question about it)")
    elif concerns:
        reasons.insert(-1, "needs action within a day: " + _named(concerns, ", "))
        return decided("semi_urgent", max(semi, 0.0))
    return decided("non_urgent", max(semi, 0.0))
