"""Text normalisation for triage: one canonical form for rules and mail text alike.

Residents type the same word many ways: in capitals or not, with or without a nukta or a
chandrabindu, with the long or the short vowel sign, with zero-width joiners their keyboard
inserts, "bachaooo" for "bachao", "plzzz" for "plz".  Rules would need a spelling for every
variant; instead both the phrases of the rules file and the mail are folded to one form and
compared there.  The folding is deliberately lossy (it only has to make equal what residents
mean as equal) and it is the same function for both sides, so a collision can only make two
spellings match, never make a rule stop matching its own text.

What is folded (after Unicode NFKC and case folding):

* Invisible characters: zero-width joiner/non-joiner/space, soft hyphen, BOM.
* Devanagari and Bengali: nukta dropped (ड़ → ड, য় → য), chandrabindu and Devanagari
  anusvara dropped (हैं → है, নহীঁ typos), long vowel signs folded to short ones (ी → ि,
  ू → ु; the same in Bengali), ण → न and ष → श (confused in typing), Bengali khanda-ta
  ৎ → ত্, Devanagari candra vowels (ऑ, ॅ) to their plain forms, dandas to full stops,
  Devanagari and Bengali digits to ASCII digits.
* Latin: diacritics dropped (é → e), "n't" → " not" (so "isn't" is a negation word),
  "no. 5" / "no 5" → "number 5" (so a house number is not a negation), apostrophes
  dropped ("it's" → "its"), then every run of a repeated letter collapsed to one
  ("helppp" → "help", "bachaoo" → "bachao", "killed" → "kiled" - the rule "killed" is
  folded the same way), "z" → "j" (zakhmi / jakhmi) and "q" / "ck" → "k".

Only the first `max_chars` characters are looked at by callers; nothing here is worse than
linear in the length of the text.
"""

from __future__ import annotations

import re
import unicodedata

# --- character table (applied after NFKC + casefold) -------------------------------------
_DELETE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width space / non-joiner / joiner, BOM, SHY
    "\u093c\u09bc"  # nukta (Devanagari, Bengali)
    "\u0901\u0902"  # Devanagari chandrabindu, anusvara
    "\u0981"  # Bengali chandrabindu
)
_MAP = {
    # Devanagari long vowels -> short, confusable consonants, candra vowels
    "\u0940": "\u093f", "\u0942": "\u0941", "\u0908": "\u0907", "\u090a": "\u0909",
    "\u0923": "\u0928", "\u0937": "\u0936", "\u0911": "\u0913", "\u0949": "\u094b",
    "\u0945": "\u0947", "\u090d": "\u090f",
    # Bengali long vowels -> short, confusable consonants, khanda-ta
    "\u09c0": "\u09bf", "\u09c2": "\u09c1", "\u0988": "\u0987", "\u098a": "\u0989",
    "\u09a3": "\u09a8", "\u09b7": "\u09b6", "\u09ce": "\u09a4\u09cd",
    # dandas -> full stop
    "\u0964": ".", "\u0965": ".",
    # typographic punctuation NFKC leaves alone
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-",
}
for _i in range(10):
    _MAP[chr(0x0966 + _i)] = str(_i)  # Devanagari digits
    _MAP[chr(0x09E6 + _i)] = str(_i)  # Bengali digits


def _latin_base(ch: str) -> str | None:
    decomposition = unicodedata.decomposition(ch)
    if not decomposition or decomposition.startswith("<"):
        return None
    base = chr(int(decomposition.split()[0], 16))
    return base if "a" <= base <= "z" else _latin_base(base)


for _code in range(0x00C0, 0x0250):
    _base = _latin_base(chr(_code))
    if _base is not None:
        _MAP[chr(_code)] = _base

_TABLE = str.maketrans({**{ch: None for ch in _DELETE}, **_MAP})
# The same table as (character, replacement) pairs.  str.translate looks every character of
# a non-ASCII text up in a dict; replacing only the characters the text holds is several
# times faster, and gives the same text because no replacement holds a character that is
# itself replaced (checked here).
_PAIRS = {ch: "" for ch in _DELETE} | _MAP
_KEYS = frozenset(_PAIRS)
assert not any(set(out) & _KEYS for out in _PAIRS.values())
_ANY_KEY = re.compile("[" + "".join(map(re.escape, sorted(_KEYS))) + "]")

# --- Latin-script folding ----------------------------------------------------------------
_CANT = re.compile(r"\bcant\b")
_NUMBER_ABBREVIATION = re.compile(r"\bno\b\.?\s*(?=\d)")
_REPEATS = re.compile(r"([a-z])\1+")


def normalise(text: str) -> str:
    """The canonical form of `text` for matching (see the module docstring)."""
    if text.isascii():  # ASCII is its own NFKC form, and its case folding is lower()
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKC", text).casefold()
        for ch in set(_ANY_KEY.findall(text)):
            text = text.replace(ch, _PAIRS[ch])
    if "'" in text:
        text = text.replace("can't", "can not").replace("won't", "will not")
        text = text.replace("n't", " not").replace("'", "")
    if "cant" in text:
        text = _CANT.sub("can not", text)
    if "no" in text:
        text = _NUMBER_ABBREVIATION.sub("number ", text)
    text = _REPEATS.sub(r"\1", text)
    return text.replace("z", "j").replace("q", "k").replace("ck", "k")


# Word tokens of the normalised text: Latin (with digits), Devanagari, Bengali, or any other
# script's letters.  Python's \w does not count Indic vowel signs and viramas as word
# characters, so the Indic blocks are spelled out (dandas excluded: they are sentence ends).
WORD = (
    r"[a-z0-9\u00c0-\u024f]+"
    r"|[\u0900-\u0963\u0971-\u097f]+"
    r"|[\u0980-\u09e3\u09f0-\u09fe]+"
    r"|[^\W\d_a-z\u00c0-\u024f\u0900-\u09ff]+"
)
WORD_RE = re.compile(WORD)


def words(text: str) -> list[str]:
    """The word tokens of already normalised text."""
    return WORD_RE.findall(text)


def is_indic(word: str) -> bool:
    return any("\u0900" <= ch <= "\u09ff" for ch in word)
