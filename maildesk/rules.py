"""Classification rules as data: phrases per urgency and language, weights, negations.

The rules file (`config/rules.yaml` by default) is read once at start; `classify` uses the
compiled form. Keeping them in configuration lets the IT cell tune them without a release.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from maildesk.errors import ConfigError
from maildesk.yamlfile import load_yaml

CLASSES = ("urgent", "semi_urgent", "non_urgent")
DEFAULT_WEIGHTS = {"urgent": 6.0, "semi_urgent": 3.0, "non_urgent": 1.0}


@dataclass(frozen=True)
class Phrase:
    text: str  # normalised
    urgency: str
    weight: float
    language: str


@dataclass(frozen=True)
class Rules:
    phrases: dict[str, Phrase]  # normalised text -> phrase
    pattern: re.Pattern[str]  # one alternation over every phrase, longest first
    negation: re.Pattern[str] | None
    negation_window: int  # characters before a match in which a negation cancels it
    urgent_threshold: float
    semi_urgent_threshold: float
    subject_factor: float


def normalise(text: str) -> str:
    """The form both rules and mail text are compared in."""
    return unicodedata.normalize("NFC", text).casefold()


def _is_latin(phrase: str) -> bool:
    return all(ord(ch) < 0x250 for ch in phrase)


def _alternative(phrase: str) -> str:
    # Latin phrases match whole words (a trailing * allows any ending); Indic scripts carry
    # combining marks that \b does not treat as letters, so they match as substrings.
    prefix = phrase.endswith("*")
    body = re.escape(phrase.rstrip("*")).replace(r"\ ", r"\s+")
    if _is_latin(phrase):
        return rf"\b{body}" + ("" if prefix else r"\b")
    return body


def compile_rules(data: dict, path: Path) -> Rules:
    phrases: dict[str, Phrase] = {}
    table = data.get("phrases") or {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'phrases' must map an urgency to languages to phrase lists")
    for urgency, languages in table.items():
        if urgency not in CLASSES:
            line = getattr(table, "lines", {}).get(urgency, "?")
            raise ConfigError(
                f"{path}:{line}: phrases.{urgency}: unknown urgency; use {', '.join(CLASSES)}"
            )
        for language, entries in (languages or {}).items():
            for entry in entries or []:
                if isinstance(entry, dict) and len(entry) == 1:
                    (text, weight), = entry.items()
                else:
                    text, weight = entry, DEFAULT_WEIGHTS[urgency]
                if not isinstance(text, str) or not isinstance(weight, int | float):
                    raise ConfigError(
                        f"{path}: phrases.{urgency}.{language}: entry {entry!r} must be "
                        "'phrase' or 'phrase: weight'"
                    )
                key = normalise(text.strip())
                phrases[key] = Phrase(key, urgency, float(weight), str(language))
    if not phrases:
        raise ConfigError(f"{path}: no classification phrases; add a 'phrases:' section")
    ordered = sorted(phrases, key=len, reverse=True)
    pattern = re.compile("|".join(f"({_alternative(p)})" for p in ordered))
    negations = [normalise(n) for group in (data.get("negations") or {}).values() for n in group]
    negation = (
        re.compile("|".join(_alternative(n) for n in sorted(negations, key=len, reverse=True)))
        if negations
        else None
    )
    thresholds = data.get("thresholds") or {}
    return Rules(
        phrases={p: phrases[p] for p in ordered},
        pattern=pattern,
        negation=negation,
        negation_window=int(data.get("negation_window", 25)),
        urgent_threshold=float(thresholds.get("urgent", 6)),
        semi_urgent_threshold=float(thresholds.get("semi_urgent", 3)),
        subject_factor=float(data.get("subject_factor", 1.5)),
    )


def read_rules(path: Path) -> Rules:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'phrases:' and 'thresholds:'")
    try:
        return compile_rules(data, path)
    except re.error as exc:
        raise ConfigError(f"{path}: a phrase makes an invalid pattern: {exc}") from exc
