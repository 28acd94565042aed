"""Classification rules as data: phrases per urgency and language, signals, traps, weights.

The rules file (`config/rules.yaml` by default, named by `rules:` in stations.yaml) is read
once at start; `classify` uses the compiled form.  Keeping the rules in configuration lets the
IT cell tune them without a release.  The file format is documented at the top of
`config/rules.yaml`; this module checks it and names file and line for every mistake.

Matching works on words, not on characters: the mail and every phrase are normalised
(`maildesk.triage.normalise`) and cut into words, and a phrase matches a run of words of one
sentence.  All phrases form one trie of words (a word that allows any ending is looked up
by its stem), walked from every word of the mail: the cost grows with the length of the mail,
hardly with the number of phrases, and no regular expression built from the rules can
backtrack.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any, NamedTuple

from maildesk.config.yamlfile import YamlReader, load_yaml
from maildesk.errors import ConfigError
from maildesk.triage.model import Model, load_model
from maildesk.triage.normalise import is_indic, normalise, words

__all__ = ["CLASSES", "POLICY", "Frame", "Phrase", "Rules", "compile_rules", "normalise",
           "read_policy", "read_rules"]

CLASSES = ("urgent", "semi_urgent", "non_urgent")
POLICY = Path(__file__).resolve().parent / "policy.yaml"  # the policy shipped with maildesk
LANGUAGES = ("en", "hi", "bn", "mr", "hi-latn", "bn-latn", "any")
DEFAULT_WEIGHTS = {"urgent": 6.0, "semi_urgent": 3.0, "non_urgent": 0.5, "now": 2.0}
GAP = "..."  # a phrase word standing for up to `gap_words` words of any kind
TOGETHER = " + "  # "a + b": both parts in one sentence, in any order, as far apart as they are
EITHER = " / "  # "a b / c d": either whole phrase (where "|" gives one word of several)
MAX_PARTS = 4
MAX_VARIANTS = 256  # spellings one phrase may expand to through a|b alternatives

# Kinds of phrase.  Content phrases and signals compete for the words they cover (the longest
# match wins, ties go to the kind listed first), so a trap such as "killing time" hides the
# "kill*" inside it and "abhi tak" (until now) hides "abhi" (now).
CONTENT_PRIORITY = ("trap", "urgent", "semi_urgent", "calm", "now", "time", "non_urgent")

TOP_LEVEL = {
    "thresholds", "weights", "max_chars", "gap_words", "negation", "now", "contexts", "calm",
    "traps", "phrases", "harm", "at_risk", "close_to_urgent", "concern", "second_opinion",
}
# The categories of harm the policy is about (TRIAGE.md): a mail touching one of them, with
# no sign that it is over, is urgent.  Who is at risk is named in the reasons.
HARM = ("threat_to_life", "violence_now", "missing_minor_or_vulnerable",
        "kidnap_confinement_extortion", "sexual_assault", "suicide_self_harm",
        "fire_gas_collapse", "weapon", "injured_helpless")
AT_RISK = ("child", "elderly", "woman_alone", "third_person")
# What needs police action within about a day (TRIAGE.md, semi-urgent): a mail touching one
# of these, told as present or recent, is at least semi-urgent.
CONCERN = ("theft_or_snatching", "harassment", "suspicious_presence", "cyber_fraud",
           "threatening_messages", "hazard", "illegal_activity", "recent_assault",
           "missing_adult", "attempted_break_in", "road_dispute")


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in the rules file: what officers see in the reasons
    kind: str  # urgent | semi_urgent | non_urgent | trap | calm | now | time | neg_before |
    #            neg_after | clause_break | part (one part of an "a + b" phrase)
    weight: float
    language: str
    line: int  # line in the rules file
    scope: str = ""  # for kind "time": the name of its context
    parts: tuple[int, ...] = ()  # for an "a + b" phrase: the ids of its part phrases
    whole: int = -1  # for kind "part": the id of the "a + b" phrase
    part: int = 0  # for kind "part": which part of it (a part may have several phrases)
    count: int = 0  # for an "a + b" phrase: how many parts it has
    # per word of the phrase: its spellings as (normalised words, as written, any ending);
    # () for "..."; used to show officers the matched words in the rule's own spelling
    slots: tuple[tuple[tuple[tuple[str, ...], str, bool], ...], ...] = field(
        default=(), compare=False, repr=False)

    def shown(self, tokens: list[str]) -> str:
        """The matched words (normalised `tokens`) in this phrase's own spelling."""
        if not self.slots:
            return " ".join(tokens)
        out: list[str] = []
        j = 0
        for k, slot in enumerate(self.slots):
            if not slot:  # "...": skip to where the next word matches
                nxt = self.slots[k + 1] if k + 1 < len(self.slots) else ()
                while j < len(tokens) and not any(_fits(alt, tokens, j) for alt in nxt):
                    j += 1
                out.append("…")
                continue
            for alt in slot:
                if _fits(alt, tokens, j):
                    words, written, prefix = alt
                    ending = prefix and not tokens[j + len(words) - 1] == words[-1]
                    out.append(written.rstrip("*$") + ("…" if ending else ""))
                    j += len(words)
                    break
            else:
                return " ".join(tokens)
        return " ".join(out)


@dataclass(frozen=True)
class Frame:
    """A context: phrases that date or frame what their sentence tells ("last year", "film").

    The phrases of a sentence in the context are scaled by its factors."""

    name: str
    factors: dict[str, float]  # urgency class -> factor (missing classes: 1)
    carry: int  # how many following sentences of the paragraph inherit the context
    past: bool = False  # a time gone by: a "now" signal in the sentence cancels it


class Match(NamedTuple):
    phrase: Phrase
    start: int  # first word
    end: int  # one past the last word


class _Node:
    """A trie node: the phrases ending here and the ways on to the next word."""

    __slots__ = ("exact", "prefix", "prefix_lengths", "gap", "ends", "leaf")

    def __init__(self) -> None:
        self.exact: dict[str, _Node] = {}  # next word -> node
        self.prefix: dict[str, _Node] = {}  # stem of the next word -> node
        self.prefix_lengths: tuple[int, ...] = ()
        self.gap: _Node | None = None  # after "...": up to gap_words words of anything
        self.ends: list[int] = []  # phrase ids
        self.leaf = True  # no way on: the phrases ending here end the walk

    def child(self, word: str, prefix: bool) -> _Node:
        if word == GAP:
            if self.gap is None:
                self.gap = _Node()
            return self.gap
        table = self.prefix if prefix else self.exact
        node = table.get(word)
        if node is None:
            node = table[word] = _Node()
        return node

    def freeze(self) -> None:
        self.prefix_lengths = tuple(sorted({len(stem) for stem in self.prefix}))
        self.leaf = not (self.exact or self.prefix or self.gap)
        for node in (*self.exact.values(), *self.prefix.values()):
            node.freeze()
        if self.gap is not None:
            self.gap.freeze()

    def next_nodes(self, token: str) -> list[_Node]:
        nodes = []
        node = self.exact.get(token)
        if node is not None:
            nodes.append(node)
        if self.prefix:
            get = self.prefix.get
            size = len(token)
            for length in self.prefix_lengths:
                if length > size:
                    break
                node = get(token[:length])
                if node is not None:
                    nodes.append(node)
        return nodes


class Matcher:
    """Finds phrases in a list of words: a trie of words walked from every word."""

    # A phrase is reported at most this often per mail: it counts once anyway, and a mail
    # repeating "fire" a hundred thousand times must not cost more than a normal one.
    # Negations and clause breaks are always all reported: each one matters where it stands.
    MAX_OCCURRENCES = 8
    UNCAPPED = ("neg_before", "neg_after", "clause_break")

    # Where each word leads from the root is remembered (words repeat within a mail and
    # across mails); the memory is emptied when it holds this many words.
    CACHE_WORDS = 50_000

    def __init__(self, gap_words: int = 3) -> None:
        self.root = _Node()
        self.gap_words = gap_words
        # word -> what it starts (see _start)
        self._starts: dict[str, tuple[tuple[int, ...], tuple[_Node, ...]] | tuple[()]] = {}
        self._phrases: tuple[Phrase, ...] = ()
        self._capped: tuple[bool, ...] = ()  # per phrase: reported at most MAX_OCCURRENCES

    def add(self, phrase: int, words: list[tuple[str, bool]]) -> None:
        node = self.root
        for word, prefix in words:
            node = node.child(word, prefix)
        if phrase not in node.ends:
            node.ends.append(phrase)

    def freeze(self) -> None:
        self.root.freeze()
        self._starts = {}

    def _start(self, token: str) -> tuple[tuple[int, ...], tuple[_Node, ...]] | tuple[()]:
        """What a word starts: the phrases it is by itself, and the nodes to walk on from;
        () when it starts nothing."""
        nodes = self.root.next_nodes(token)
        if not nodes:
            return ()
        return (tuple(p for node in nodes for p in node.ends),
                tuple(node for node in nodes if not node.leaf))

    def find(self, tokens: list[str], sentence: list[int],
             phrases: tuple[Phrase, ...]) -> list[Match]:
        """Every (phrase, start, end) occurrence in the word list; phrases stay in a sentence."""
        found: list[Match] = []
        seen: dict[int, int] = {}
        n = len(tokens)
        limit = self.MAX_OCCURRENCES
        if self._phrases is not phrases:
            self._phrases = phrases
            self._capped = tuple(p.kind not in self.UNCAPPED for p in phrases)
        capped = self._capped
        new = tuple.__new__  # a Match without the Python-level NamedTuple constructor
        cache = self._starts
        if len(cache) > self.CACHE_WORDS:
            cache = self._starts = {}
        for token in set(tokens).difference(cache):
            cache[token] = self._start(token)
        # most words start no phrase: they are passed over in C, not in this loop
        all_starts = list(map(cache.__getitem__, tokens))
        for i in compress(range(n), all_starts):
            singles, walkers = all_starts[i]
            after = i + 1
            if walkers:
                ends: list[tuple[int, int]] = [(phrase, after) for phrase in singles]
                for node in walkers:
                    self._walk_on(node, after, tokens, sentence, n, sentence[i], ends)
                if len(ends) > 1:
                    ends = sorted(set(ends))
            elif len(singles) == 1:
                ends = [(singles[0], after)]
            else:
                ends = [(phrase, after) for phrase in sorted(set(singles))]
            for phrase, end in ends:
                count = seen.get(phrase, 0)
                if count < limit:
                    if capped[phrase]:
                        seen[phrase] = count + 1
                    found.append(new(Match, (phrases[phrase], i, end)))
        return found

    def _walk_on(self, node: _Node, j: int, tokens: list[str], sentence: list[int], n: int,
                 sid: int, ends: list[tuple[int, int]]) -> None:
        """Follow `node`'s ways on from word j, collecting (phrase, end) of every match."""
        if j < n and sentence[j] == sid:
            for child in node.next_nodes(tokens[j]):
                for phrase in child.ends:
                    ends.append((phrase, j + 1))
                if not child.leaf:
                    self._walk_on(child, j + 1, tokens, sentence, n, sid, ends)
        gap = node.gap
        if gap is not None:
            for skip in range(self.gap_words + 1):
                at = j + skip
                if at >= n or sentence[at] != sid:
                    break
                for child in gap.next_nodes(tokens[at]):
                    for phrase in child.ends:
                        ends.append((phrase, at + 1))
                    if not child.leaf:
                        self._walk_on(child, at + 1, tokens, sentence, n, sid, ends)


@dataclass(frozen=True)
class Rules:
    phrases: tuple[Phrase, ...] = field(repr=False)  # every phrase and signal, in file order
    matcher: Matcher = field(repr=False)
    urgent_threshold: float
    semi_urgent_threshold: float
    subject_factor: float
    quoted_factor: float
    max_chars: int
    negation_before: int  # words before a phrase in which a negation cancels it
    negation_after: int  # words after a phrase in which a negation cancels it
    contexts: dict[str, Frame] = field(repr=False)
    now_max_boost: float
    calm_factor: float
    close_fraction: float = 1.0  # urgent score from this share of the threshold: urgent
    err_urgent: bool = True  # a touched harm or a close score is urgent (off: measure cost)
    harm_ends: tuple[str, ...] = ()  # contexts in whose sentences a harm is not present
    concern_ends: tuple[str, ...] = ()  # and contexts that end only a concern (a question)
    source: str = ""
    model: Model | None = field(default=None, repr=False, compare=False)  # second opinion
    # the model's score that raises a mail the rules call semi-urgent (None: its threshold)
    model_over_semi: float | None = None
    overlay: str = ""  # the deployment's own rules file read on top of the policy, if any
    changes: tuple[str, ...] = ()  # what that file added or changed

    def count(self, kind: str) -> int:
        return sum(1 for p in self.phrases if p.kind == kind)


# ------------------------------------------------------------------------------------------
class _Reader(YamlReader):
    """The shared YAML checks, and the policy's one construct of its own: phrase lists."""

    def entries(self, node: Any, where: str, line: int | None, default_weight: float | None
                ) -> Iterable[tuple[str, str, float, int]]:
        """(language, phrase, weight, line) from `language: [phrase | {phrase: weight}]`."""
        table = self.mapping(node, where, line)
        for language, items in table.items():
            key_line = self.line_of(table, language)
            if language not in LANGUAGES:
                raise self.fail(key_line, f"{where}: unknown language {language!r}; use one of "
                                          f"{', '.join(LANGUAGES)}")
            if items is None:
                continue
            if not isinstance(items, list):
                raise self.fail(key_line, f"{where}.{language} must be a list of phrases")
            for index, item in enumerate(items):
                item_line = self.line_of(items, index=index) or key_line
                weight = default_weight
                if isinstance(item, dict) and len(item) == 1:
                    ((text, weight),) = item.items()
                    if default_weight is None:
                        raise self.fail(item_line, f"{where}.{language}: {text!r} takes no "
                                                   "weight here; write just the phrase")
                    if isinstance(weight, bool) or not isinstance(weight, int | float):
                        raise self.fail(item_line, f"{where}.{language}: the weight of {text!r} "
                                                   "must be a number")
                else:
                    text = item
                if not isinstance(text, str) or not text.strip():
                    raise self.fail(item_line, f"{where}.{language}: entry {item!r} must be "
                                               "'phrase' or 'phrase: weight'")
                yield str(language), text.strip(), float(weight or 0.0), item_line or 0


def _fits(alt: tuple[tuple[str, ...], str, bool], tokens: list[str], j: int) -> bool:
    words, _, prefix = alt
    if j + len(words) > len(tokens):
        return False
    for k, word in enumerate(words):
        token = tokens[j + k]
        last = k == len(words) - 1
        if not (token == word or (last and prefix and token.startswith(word))):
            return False
    return True


# Signal words match whole words: a negation "न" must not match नगर, nor "নি" নিয়ে.
WHOLE_WORD_KINDS = ("neg_before", "neg_after", "clause_break", "now")


def _spellings(text: str, indic_endings: bool = True
               ) -> tuple[list[list[tuple[str, bool]]], tuple]:
    """The normalised word sequences a phrase stands for (a|b alternatives expanded), and
    its slots (see Phrase.slots).  With `indic_endings`, Bengali and Devanagari words allow
    any ending unless they end in $."""
    choices: list[list[list[tuple[str, bool]]]] = []
    slots: list[tuple] = []
    for raw in text.split():
        if raw == GAP:
            choices.append([[(GAP, False)]])
            slots.append(())
            continue
        options = []
        slot = []
        for alternative in raw.split("|"):
            exact = alternative.endswith("$")
            prefix = alternative.endswith("*")
            body = alternative.rstrip("*$")
            seq = words(normalise(body))
            if not seq:
                continue
            endings = indic_endings and not exact
            last_prefix = prefix or (endings and is_indic(seq[-1]))
            sequence = [(w, endings and is_indic(w)) for w in seq[:-1]]
            sequence.append((seq[-1], last_prefix))
            options.append(sequence)
            slot.append((tuple(seq), alternative, last_prefix))
        if not options:
            return [], ()
        choices.append(options)
        # longer spellings first, so "shown" prefers the fullest reading
        slots.append(tuple(sorted(slot, key=lambda alt: -len(alt[0]))))
    variants = []
    for combo in itertools.islice(itertools.product(*choices), MAX_VARIANTS + 1):
        variants.append([w for part in combo for w in part])
    return variants, tuple(slots)


class _Builder:
    """Collects the phrases of the policy (and of a station's file on top) into one trie."""

    def __init__(self, reader: _Reader) -> None:
        self.phrases: list[Phrase] = []
        self.matcher = Matcher()
        self.reader = reader  # the file whose phrases are being added, for error messages
        self.known: dict[tuple[str, str, str], int] = {}  # (kind, scope, text) -> index
        self.overlay = False  # adding a station's file: a known phrase takes its weight
        self.added: dict[str, int] = {}  # section -> phrases the station's file added
        self.changes: list[str] = []

    def add(self, kind: str, language: str, text: str, weight: float, line: int,
            scope: str = "", whole: int = -1, part: int = 0) -> int:
        """One phrase of one word sequence (with | alternatives and ...) into the trie; "a / b"
        adds each whole phrase (the signals, contexts and traps are written so too)."""
        if EITHER in text:
            for alternative in text.split(EITHER):
                index = self.add(kind, language, alternative.strip(), weight, line, scope,
                                 whole, part)
            return index
        fail = self.reader.fail
        variants, slots = _spellings(text, kind not in WHOLE_WORD_KINDS)
        if not variants:
            raise fail(line, f"{text!r} has no words to match")
        if len(variants) > MAX_VARIANTS:
            raise fail(line, f"{text!r} expands to more than {MAX_VARIANTS} spellings")
        for variant in variants:
            if variant[0][0] == GAP or variant[-1][0] == GAP:
                raise fail(line, f"{text!r}: '{GAP}' must stand between two words")
        index = len(self.phrases)
        self.phrases.append(Phrase(text, kind, weight, language, line, scope, slots=slots,
                                   whole=whole, part=part))
        for variant in variants:
            self.matcher.add(index, variant)
        return index

    def add_phrase(self, kind: str, language: str, text: str, weight: float, line: int,
                   scope: str = "") -> None:
        """A phrase as written in a section: "a / b" alternatives, "a + b" parts."""
        key = (kind, scope, text)
        if self.overlay and key in self.known:  # a policy phrase named again: a new weight
            index = self.known[key]
            if self.phrases[index].weight != weight:
                self.changes.append(f"{where_of(kind, scope)} {text!r}: weight "
                                    f"{self.phrases[index].weight:g} -> {weight:g} "
                                    f"(line {line})")
                self.phrases[index] = dataclasses.replace(self.phrases[index], weight=weight)
            return
        self.known.setdefault(key, len(self.phrases))
        if self.overlay:
            section = where_of(kind, scope)
            self.added[section] = self.added.get(section, 0) + 1
        if TOGETHER not in text:
            for alternative in text.split(EITHER):
                self.add(kind, language, alternative.strip(), weight, line, scope)
            return
        pieces = [piece.strip() for piece in text.split(TOGETHER.strip())]
        if not 2 <= len(pieces) <= MAX_PARTS or not all(pieces):
            raise self.reader.fail(line, f"{text!r}: 'a + b' takes 2 to {MAX_PARTS} "
                                         "non-empty parts")
        index = len(self.phrases)
        self.phrases.append(Phrase(text, kind, weight, language, line, scope))
        ids = []
        for slot, piece in enumerate(pieces):
            for alternative in piece.split(EITHER):  # one part, several whole phrases
                ids.append(self.add("part", language, alternative.strip(), 0.0, line,
                                    whole=index, part=slot))
        self.phrases[index] = Phrase(text, kind, weight, language, line, scope,
                                     parts=tuple(ids), count=len(pieces))


def _known_keys(r: _Reader, node: dict, where: str, keys: tuple[str, ...]) -> None:
    for key in node:
        if key not in keys:
            raise r.fail(r.line_of(node, key), f"{where}.{key}: use {', '.join(keys)}")


def _section(r: _Reader, data: dict, name: str, keys: tuple[str, ...]) -> dict:
    node = r.mapping(data.get(name), name, r.line_of(data, name))
    _known_keys(r, node, name, keys)
    return node


def _scoring(r: _Reader, data: dict) -> dict[str, float]:
    """thresholds, weights, max_chars and gap_words."""
    thresholds = _section(r, data, "thresholds", ("urgent", "semi_urgent"))
    urgent = r.number(thresholds, "urgent", 6.0, "thresholds", 0.1)
    semi = r.number(thresholds, "semi_urgent", 3.0, "thresholds", 0.1)
    if semi > urgent:
        raise r.fail(r.line_of(thresholds, "semi_urgent"),
                     "thresholds.semi_urgent must not be above thresholds.urgent")
    weights = r.mapping(data.get("weights"), "weights", r.line_of(data, "weights"))
    for key in weights:
        if key not in ("subject", "quoted"):
            raise r.fail(r.line_of(weights, key), f"weights.{key}: use 'subject' or 'quoted'")
    return {
        "urgent_threshold": urgent,
        "semi_urgent_threshold": semi,
        "subject_factor": r.number(weights, "subject", 1.5, "weights", 0.0, 10.0),
        "quoted_factor": r.number(weights, "quoted", 0.2, "weights", 0.0, 1.0),
        "max_chars": int(r.number(data, "max_chars", 20_000, "", 1_000, 200_000)),
        "gap_words": int(r.number(data, "gap_words", 3, "", 0, 10)),
    }


def _negation(r: _Reader, data: dict, b: _Builder) -> tuple[int, int]:
    """The negation words and clause breaks; returns the two windows (words)."""
    negation = r.mapping(data.get("negation"), "negation", r.line_of(data, "negation"))
    for key in negation:
        if key not in ("window_before", "window_after", "before", "after", "clause_breaks"):
            raise r.fail(r.line_of(negation, key), f"negation.{key}: use window_before, "
                         "window_after, before, after or clause_breaks")
    for key, kind in (("before", "neg_before"), ("after", "neg_after"),
                      ("clause_breaks", "clause_break")):
        for language, text, _, line in r.entries(negation.get(key), f"negation.{key}",
                                                 r.line_of(negation, key), None):
            b.add(kind, language, text, 0.0, line)
    return (int(r.number(negation, "window_before", 3, "negation", 0, 20)),
            int(r.number(negation, "window_after", 3, "negation", 0, 20)))


def _now(r: _Reader, data: dict, b: _Builder) -> float:
    """The "now" signals; returns their largest total boost."""
    now = r.mapping(data.get("now"), "now", r.line_of(data, "now"))
    for key in now:
        if key not in ("max_boost", "phrases"):
            raise r.fail(r.line_of(now, key), f"now.{key}: use max_boost or phrases")
    for language, text, weight, line in r.entries(now.get("phrases"), "now.phrases",
                                                  r.line_of(now, "phrases"),
                                                  DEFAULT_WEIGHTS["now"]):
        b.add("now", language, text, weight, line)
    return r.number(now, "max_boost", 3.0, "now", 0.0, 100.0)


def _frames(r: _Reader, data: dict, b: _Builder) -> dict[str, Frame]:
    """The contexts ("last year", "film"...): their factors and phrases."""
    frames: dict[str, Frame] = {}
    table = r.mapping(data.get("contexts"), "contexts", r.line_of(data, "contexts"))
    for name, scope in table.items():
        where, line = f"contexts.{name}", r.line_of(table, name)
        if name == "now":
            raise r.fail(line, "contexts.now: 'now' is its own section; choose another name")
        scope = r.mapping(scope, where, line)
        for key in scope:
            if key not in ("factors", "carry", "past", "phrases"):
                raise r.fail(r.line_of(scope, key), f"{where}.{key}: use factors, carry, past "
                                                    "or phrases")
        past = scope.get("past", False)
        if not isinstance(past, bool):
            raise r.fail(r.line_of(scope, "past"), f"{where}.past must be true or false")
        factors_node = r.mapping(scope.get("factors"), f"{where}.factors",
                                 r.line_of(scope, "factors"))
        factors = {}
        for cls in factors_node:
            if cls not in CLASSES:
                raise r.fail(r.line_of(factors_node, cls), f"{where}.factors.{cls}: unknown "
                             f"urgency; use {', '.join(CLASSES)}")
            factors[cls] = r.number(factors_node, cls, 1.0, f"{where}.factors", 0.0, 10.0)
        carry = int(r.number(scope, "carry", 0, where, 0, 50))
        frames[str(name)] = Frame(str(name), factors, carry, past)
        for language, text, _, pline in r.entries(scope.get("phrases"), f"{where}.phrases",
                                                  r.line_of(scope, "phrases"), None):
            b.add("time", language, text, 0.0, pline, str(name))
    return frames


def _close(r: _Reader, data: dict, frames: dict[str, Frame]) -> tuple[float, tuple[str, ...]]:
    """close_to_urgent: the share of the urgent threshold, and the contexts ending a harm."""
    close = _section(r, data, "close_to_urgent", ("fraction", "harm_ends_in",
                                                   "concern_ends_in"))
    ends = close.get("harm_ends_in") or []
    for name in ends:
        if name not in frames:
            raise r.fail(r.line_of(close, "harm_ends_in"),
                         f"close_to_urgent.harm_ends_in: {name!r} is not a context")
    return (r.number(close, "fraction", 1.0, "close_to_urgent", 0.1, 1.0),
            tuple(str(name) for name in ends))


def _concern_ends(r: _Reader, data: dict, frames: dict[str, Frame]) -> tuple[str, ...]:
    """close_to_urgent.concern_ends_in: contexts that end a concern but not a harm.  "What
    should I do if a thief gets in?" asks; it reports no theft.  A harm in such a sentence
    still counts: a threat to life is never judged by its grammar."""
    close = data.get("close_to_urgent") or {}
    ends = close.get("concern_ends_in") or []
    for name in ends:
        if name not in frames:
            raise r.fail(r.line_of(close, "concern_ends_in"),
                         f"close_to_urgent.concern_ends_in: {name!r} is not a context")
    return tuple(str(name) for name in ends)


def _second_opinion(r: _Reader, data: dict) -> Model | None:
    """The statistical second opinion (maildesk.triage.model), if the policy enables it."""
    if "second_opinion" not in data:
        return None
    second = _section(r, data, "second_opinion", ("threshold", "over_semi_urgent"))
    model = load_model()
    if model is None:
        raise r.fail(r.line_of(data, "second_opinion"), "second_opinion: the package "
                     "carries no model (maildesk/triage/model.json.gz)")
    return dataclasses.replace(model, threshold=r.number(
        second, "threshold", model.threshold, "second_opinion", -10.0, 10.0))


def _over_semi(r: _Reader, data: dict) -> float | None:
    """second_opinion.over_semi_urgent: the score the model needs to raise a mail the rules
    already call semi-urgent (it gets action within a day); a mail the rules call non-urgent
    is raised from the ordinary threshold, the only guard against an urgent mail left
    non-urgent."""
    second = data.get("second_opinion") or {}
    if "over_semi_urgent" not in second:
        return None
    return r.number(second, "over_semi_urgent", 0.0, "second_opinion", -10.0, 10.0)


def compile_rules(data: dict, path: Path, overlay: dict | None = None,
                  overlay_path: Path | None = None) -> Rules:
    """The rules of the policy `data` (from `path`), with a deployment's `overlay` file:
    its settings replace the policy's, its phrases are added, and a phrase the policy has
    already (same section, same words) takes the overlay's weight."""
    r = _Reader(path)
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise r.fail(r.line_of(data, unknown[0]), f"unknown section {unknown[0]!r}; the file "
                     f"has {', '.join(sorted(TOP_LEVEL))}")
    b = _Builder(r)
    if overlay:
        data = _with_settings(data, overlay, _Reader(overlay_path or path), b.changes)
    scoring = _scoring(r, data)
    b.matcher.gap_words = int(scoring.pop("gap_words"))
    window_before, window_after = _negation(r, data, b)
    now_max_boost = _now(r, data, b)
    frames = _frames(r, data, b)
    calm = _section(r, data, "calm", ("factor", "phrases"))
    calm_factor = r.number(calm, "factor", 0.3, "calm", 0.0, 1.0)
    close_fraction, harm_ends = _close(r, data, frames)
    concern_ends = _concern_ends(r, data, frames)
    model = _second_opinion(r, data)
    model_over_semi = _over_semi(r, data) if model is not None else None
    _phrase_sections(data, r, b.add_phrase)
    if overlay:  # the station's phrases, after the policy's
        b.overlay, b.reader = True, _Reader(overlay_path or path)
        _phrase_sections(overlay, b.reader, b.add_phrase)
        b.changes[:0] = [f"adds {count} {where}" for where, count in b.added.items()]
    if not any(p.kind in CLASSES for p in b.phrases):
        raise r.fail(r.line_of(data), "no classification phrases; add a 'phrases:' section")
    b.matcher.freeze()
    return Rules(
        phrases=tuple(b.phrases),
        matcher=b.matcher,
        **scoring,
        negation_before=window_before,
        negation_after=window_after,
        contexts=frames,
        now_max_boost=now_max_boost,
        calm_factor=calm_factor,
        close_fraction=close_fraction,
        harm_ends=harm_ends,
        concern_ends=concern_ends,
        source=str(path),
        model=model,
        model_over_semi=model_over_semi,
        overlay=str(overlay_path) if overlay_path else "",
        changes=tuple(b.changes),
    )


def where_of(kind: str, scope: str) -> str:
    """The section of the rules file a phrase of this kind comes from."""
    if kind in CLASSES:
        return f"phrases.{kind}"
    section = {"harm": "harm", "who": "at_risk", "concern": "concern", "trap": "traps",
               "calm": "calm.phrases"}.get(kind, kind)
    return f"{section}.{scope}" if scope else section


# Sections a deployment's own rules file may hold (see read_rules).
OVERLAY_SETTINGS = ("thresholds", "weights", "close_to_urgent", "second_opinion")
OVERLAY_PHRASES = ("phrases", "traps", "calm", "harm", "at_risk", "concern")


def _with_settings(data: dict, overlay: dict, r: _Reader, changes: list[str]) -> dict:
    """The policy data with the overlay's settings in place of its own (checked against the
    overlay file, so a mistake names the overlay's line)."""
    for key in overlay:
        if key not in OVERLAY_SETTINGS + OVERLAY_PHRASES:
            raise r.fail(r.line_of(overlay, key), f"{key}: a station's rules file may hold "
                         f"{', '.join(OVERLAY_SETTINGS + OVERLAY_PHRASES)}; the rest of the "
                         "triage policy ships with maildesk")
    merged = dict(data)
    for section in OVERLAY_SETTINGS:
        if section not in overlay:
            continue
        own = r.mapping(overlay[section], section, r.line_of(overlay, section))
        base = merged.get(section) or {}
        table = type(base)(base) if isinstance(base, dict) else {}
        if hasattr(base, "lines"):
            table.lines = dict(base.lines)
            table.line = base.line
        for key, value in own.items():
            if key in ("harm_ends_in", "concern_ends_in") or isinstance(
                    value, bool) or not isinstance(value, int | float):
                raise r.fail(r.line_of(own, key), f"{section}.{key} must be a number")
            r.number(own, key, 0.0, section, -10.0, 1e6)
            old = base.get(key) if isinstance(base, dict) else None
            table[key] = value
            changes.append(f"{section}.{key}: {old if old is not None else 'default'} -> "
                           f"{value:g} (line {r.line_of(own, key)})")
        merged[section] = table
    return merged


def _phrase_sections(data: dict, r: _Reader, add_phrase: Callable[..., None]) -> None:
    """Add the phrases of the traps, calm, harm, at_risk, concern and phrases sections."""
    calm = r.mapping(data.get("calm"), "calm", r.line_of(data, "calm"))
    for language, text, _, line in r.entries(calm.get("phrases"), "calm.phrases",
                                             r.line_of(calm, "phrases"), None):
        add_phrase("calm", language, text, 0.0, line)
    for language, text, _, line in r.entries(data.get("traps"), "traps",
                                             r.line_of(data, "traps"), None):
        add_phrase("trap", language, text, 0.0, line)
    for section, kind, names in (("harm", "harm", HARM), ("at_risk", "who", AT_RISK),
                                 ("concern", "concern", CONCERN)):
        table = r.mapping(data.get(section), section, r.line_of(data, section))
        for name, languages in table.items():
            if name not in names:
                raise r.fail(r.line_of(table, name), f"{section}.{name}: unknown; use "
                             f"{', '.join(names)}")
            for language, text, _, line in r.entries(languages, f"{section}.{name}",
                                                     r.line_of(table, name), None):
                add_phrase(kind, language, text, 0.0, line, str(name))
    table = r.mapping(data.get("phrases"), "phrases", r.line_of(data, "phrases"))
    for urgency, languages in table.items():
        if urgency not in CLASSES:
            raise r.fail(r.line_of(table, urgency),
                         f"phrases.{urgency}: unknown urgency; use {', '.join(CLASSES)}")
        for language, text, weight, line in r.entries(languages, f"phrases.{urgency}",
                                                      r.line_of(table, urgency),
                                                      DEFAULT_WEIGHTS[urgency]):
            add_phrase(urgency, language, text, weight, line)


def read_rules(path: Path | None = None) -> Rules:
    """The triage policy that ships with maildesk (POLICY), with a deployment's own rules
    file at `path` on top, if there is one: it may add phrases (to phrases, traps, calm,
    harm, at_risk, concern), give a policy phrase another weight, and set thresholds,
    weights, close_to_urgent and second_opinion.  A station's file thus never holds a stale
    copy of the policy: a new release brings the improved policy with it.
    `rules.changes` lists what the file changed, for `maildesk check`.
    A missing file is no error: the policy alone is read."""
    if path is None or not path.exists() or path.resolve() == POLICY.resolve():
        return read_policy(POLICY)
    policy = load_yaml(POLICY)
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of sections (phrases:, traps: ...)")
    return compile_rules(policy, POLICY, data, path)


def read_policy(path: Path) -> Rules:
    """A whole policy file, alone (the shipped one, or one written for a test)."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping with 'thresholds:' and 'phrases:'")
    return compile_rules(data, path)
