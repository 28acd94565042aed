"""The reply fixtures of tests/mail/replies, in two parts: ``dev`` (tuned on) and ``heldout``
(written before any result was seen and never tuned on).  Used by tests/test_reply_fixtures.py
(the dev threshold) and bench/replies.py (the rates by part, client and language)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from maildesk.mail.parse import parse_mail
from maildesk.mail.quotes import typed_reply

REPLIES = Path(__file__).parent / "mail" / "replies"
# Folders of each part; every folder has an expected.json of name -> {"visible"|"typed", ...}.
# writer_r3, writer_r4, writer_r5: replies by outside writers (40, 40, 30), measured 38/40,
# 31/40 and 27/30 before anything was tuned on them
PARTS = {"dev": ("", "clients", "desk/dev", "shapes", "shapes2", "writer_r3", "writer_r4",
                 "writer_r5"),
         "heldout": ("heldout", "desk/heldout")}

# Older fixtures name their language in the file name (gmail_web_german.eml) or not at all.
_LANGUAGE_WORDS = {
    "german": "de", "urspruengliche": "de", "french": "fr", "dutch": "nl", "italian": "it",
    "portuguese": "pt", "ptbr": "pt", "russian": "ru", "danish": "da", "norwegian": "no",
    "finnish": "fi", "swedish": "sv", "polish": "pl", "vietnamese": "vi", "japanese": "ja",
    "hindi": "hi", "bengali": "bn", "marathi": "mr", "hi": "hi", "bn": "bn", "mr": "mr",
    "de": "de", "es": "es", "it": "it", "sv": "sv", "tr": "tr", "ta": "ta", "id": "id",
}
_CLIENT = re.compile(r"^(aol|apple|blackberry|coremail|evolution|gmail|ipad|iphone|mailru|mutt"
                     r"|nic|outlook|outlookcom|rediffmail|samsung|thunderbird|typeapp|windows10"
                     r"|yahoo|yandex|zimbra|zoho|html|airmail|fastmail|front|huawei|k9|lotus"
                     r"|newton|protonmail|spark|superhuman|xiaomi)")


@dataclass(frozen=True)
class Case:
    part: str
    folder: str  # "heldout" (written by others) or "desk/heldout" (by the desk's writers)...
    path: Path
    client: str
    language: str
    expected: str


def load(part: str) -> list[Case]:
    cases = []
    for folder in PARTS[part]:
        cases += load_folder(REPLIES / folder if folder else REPLIES, part, folder or ".")
    return cases


def load_folder(directory: Path, part: str = "outside", folder: str = ".") -> list[Case]:
    """The cases of one folder holding .eml files and an expected.json (also a set from
    outside the repository: bench/replies.py --measure DIR)."""
    expected = json.loads((directory / "expected.json").read_text("utf-8"))
    cases = []
    for name, entry in sorted(expected.items()):
        client = (entry["client"].split()[0].lower().replace(".", "").split("/")[0]
                  if "typed" in entry else _client_of(name))
        cases.append(Case(part, folder, directory / name, client,
                          entry.get("language") or _language_of(name),
                          entry.get("typed", entry.get("visible", ""))))
    return cases


def _client_of(name: str) -> str:
    found = _CLIENT.match(name)
    return found.group(1) if found else "other"  # the command fixtures (typo.eml, bare_words...)


def _language_of(name: str) -> str:
    words = name.removesuffix(".eml").split("_")
    return next((_LANGUAGE_WORDS[w] for w in words if w in _LANGUAGE_WORDS), "en")


def typed_of(case: Case) -> str:
    return typed_reply(parse_mail(case.path.read_bytes())).strip()


def misses(cases: list[Case]) -> list[tuple[Case, str]]:
    return [(case, got) for case in cases if (got := typed_of(case)) != case.expected.strip()]


def rates_by(cases: list[Case], missed: set[Path], key: str) -> dict[str, tuple[int, int]]:
    """key -> (exact, total)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case in cases:
        entry = out[getattr(case, key)]
        entry[1] += 1
        entry[0] += case.path not in missed
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}
