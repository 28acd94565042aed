"""The resident's status page in the resident's languages: the words are in
``templates/<lang>/status_page.json`` (English, Hindi, Bengali, Marathi), beside the mail
templates of the same language, so a translator edits one folder.

The form is shown in the language the browser asks for (or ``?lang=``); an answer is given in
the language the complaint was written in, so a resident who wrote in Bengali reads Bengali.
A wrong pair is answered in the page's language: the answer must not hint at the complaint's.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from maildesk.mail.templates import default_templates_dir

LANGUAGES = ("en", "hi", "bn", "mr")
NAMES = {"en": "English", "hi": "हिन्दी", "bn": "বাংলা", "mr": "मराठी"}


@functools.cache
def words(language: str | None) -> dict[str, str]:
    """The page's words in `language`; a key a translation lacks falls back to English."""
    english = _load("en")
    code = base_language(language)
    return english if code == "en" else {**english, **_load(code)}


def _load(code: str) -> dict[str, str]:
    path = Path(default_templates_dir()) / code / "status_page.json"
    return json.loads(path.read_text(encoding="utf-8"))


def base_language(language: str | None) -> str:
    """'bn-latn', 'hi-IN' -> 'bn', 'hi'; anything else -> 'en'. Romanised Bengali or Hindi
    is answered in the language's own script, as the desk's mail answers are."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else "en"


def from_accept_language(header: str) -> str:
    """The best of our languages for an Accept-Language header (RFC 9110 q-values)."""
    best, best_q = "en", -1.0
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().lower().split("-")[0]
        # Earlier entries win ties, as browsers list preferences in order.
        if code in LANGUAGES and q > 0 and q - position * 1e-6 > best_q:
            best, best_q = code, q - position * 1e-6
    return best
