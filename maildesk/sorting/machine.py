"""Mail written by a machine that says so only in its words: out-of-office and vacation
replies without RFC 3834 headers, recognised by their subject or the start of their body, in
English, Hindi and Bengali; and the desk's own subjects, read back by an auto-responder.

Everything here errs towards a complaint: a phrase must stand at the start of the subject or
of a short body, and sorting.rules still takes an urgent-sounding mail as a complaint."""

from __future__ import annotations

import functools
import re

from maildesk.mail.patterns import strip_reply_prefix
from maildesk.mail.templates import default_templates_dir

# Subjects mail clients and servers give their automatic replies (Outlook, Exchange, Gmail
# and Yahoo vacation responders, Zimbra, Lotus Notes, Zoho, Rediffmail, phones in Hindi or
# Bengali). Only at the start, after "Re:": "out of office" in the middle of a resident's
# subject is their own words. Not Lotus Notes' "Auto:": in India that is an auto-rickshaw.
_SUBJECT = re.compile(
    r"^\s*[\[(]?\s*(?:"
    r"automatic\s+(?:reply|response)|auto[\s-]?(?:reply|replied|response|respon[cs]e)"
    r"|autoreply|autorespond|out\s+of\s+(?:the\s+)?office"
    r"|vacation\s+(?:reply|response|notice|message|auto)|away\s+from\s+(?:the\s+|my\s+)?office"
    r"|absence\s+notice|on\s+leave\s*[:\]-]|respuesta\s+autom|r[ée]ponse\s+automatique"
    r"|automatische\s+antwort|abwesenheitsnotiz|resposta\s+autom"
    r"|स्वचालित\s*(?:उत्तर|जवाब|प्रत्युत्तर|संदेश)|स्वतः\s*(?:उत्तर|जवाब)"
    r"|कार्यालय\s+से\s+बाहर|ऑफिस\s+से\s+बाहर"
    r"|স্বয়ংক্রিয়\s*(?:উত্তর|জবাব|প্রত্যুত্তর|বার্তা)|স্বয়ংক্রিয়\s*(?:উত্তর|জবাব)"
    r"|অফিসের\s+বাইরে)",
    re.IGNORECASE,
)

# The body says it was written by a machine: enough on its own.
_AUTOMATIC = re.compile(
    r"this\s+is\s+an?\s+(?:automatic(?:ally\s+generated)?|auto(?:mated|[\s-]generated)?)"
    r"\s+(?:reply|response|message|e-?mail)|(?:automatic|auto[\s-]?generated)\s+(?:reply|response)"
    r"|यह\s+(?:एक\s+)?स्वचालित\s+(?:उत्तर|जवाब|संदेश)|स्वचालित\s+(?:उत्तर|जवाब)\s+है"
    r"|এটি\s+(?:একটি\s+)?স্বয়ংক্রিয়\s+(?:উত্তর|বার্তা|জবাব)|স্বয়ংক্রিয়\s+(?:উত্তর|বার্তা)",
    re.IGNORECASE,
)
# "I am out of the office", "I'm on leave", Hindi and Bengali alike...
_AWAY = re.compile(
    r"\b(?:i\s+am|i'm|i’m|i\s+will\s+be|i'll\s+be|i\s+shall\s+be|i\s+have\s+been)"
    r"(?:\s+currently|\s+presently|\s+now)?\s+(?:out\s+of\s+(?:the\s+)?office|away\s+from\s+"
    r"(?:the\s+|my\s+)?(?:office|desk|e-?mail)|on\s+(?:annual\s+|sick\s+|casual\s+|earned\s+)?"
    r"leave|on\s+(?:vacation|holiday)|out\s+of\s+station|on\s+tour|travelling|traveling)"
    r"|(?:मैं|में)\s+(?:आज\s+|अभी\s+)?(?:कार्यालय|ऑफिस|दफ़्तर|दफ्तर)\s+से\s+बाहर"
    r"|(?:मैं|में)\s+(?:\S+\s+){0,3}छुट्टी\s+पर"
    r"|আমি\s+(?:আজ\s+|এখন\s+)?(?:অফিসের|দপ্তরের)\s+বাইরে|আমি\s+(?:\S+\s+){0,3}ছুটিতে",
    re.IGNORECASE,
)
# ...and says when they are back, or who answers meanwhile.
_RETURN = re.compile(
    r"\b(?:until|till|untill|returning|return\s+on|back\s+on|back\s+in|on\s+my\s+return"
    r"|upon\s+my\s+return|when\s+i\s+return|get\s+back\s+to\s+you|will\s+(?:respond|reply)"
    r"|limited\s+access|in\s+my\s+absence|for\s+urgent\s+matters|please\s+contact)\b"
    r"|तक|लौट|वापस|अनुपस्थिति|পর্যন্ত|ফিরে|ফিরব|অনুপস্থিতি",
    re.IGNORECASE,
)
# An out-of-office notice is short and says so at once.
BODY_HEAD_CHARS = 300
BODY_MAX_CHARS = 1200


def autoreply_subject(subject: str) -> bool:
    return _SUBJECT.match(strip_reply_prefix(subject)) is not None


def may_be_autoreply(text: str) -> bool:
    """Cheap first look at the whole text: what autoreply_body finds at the head of the typed
    part is somewhere in the text. Only a mail that passes is read apart (quotes cut), which
    is most of the cost of sorting a resident's mail otherwise."""
    return _AUTOMATIC.search(text) is not None or _AWAY.search(text) is not None


def autoreply_body(text: str) -> bool:
    body = text.strip()
    if not body or len(body) > BODY_MAX_CHARS:
        return False
    head = body[:BODY_HEAD_CHARS]
    if _AUTOMATIC.search(head):
        return True
    return _AWAY.search(head) is not None and _RETURN.search(body) is not None


# The desk's own subjects that an auto-responder may send back: status answers and the
# neutral one, oversize notices. Read from the templates, so a new language is covered.
_OWN_TEMPLATES = ("status", "status_unknown", "oversize")
_SHORTEST_PREFIX = 8


@functools.cache
def _own_prefixes() -> tuple[str, ...]:
    prefixes = []
    for language in sorted(p for p in default_templates_dir().iterdir() if p.is_dir()):
        for name in _OWN_TEMPLATES:
            path = language / f"{name}.txt"
            if not path.is_file():
                continue
            first = path.read_text(encoding="utf-8").split("\n", 1)[0]
            literal = first.removeprefix("Subject:").split("{", 1)[0].strip(" [")
            if len(literal) >= _SHORTEST_PREFIX:
                prefixes.append(literal.casefold())
    return tuple(prefixes)


def own_subject(subject: str) -> bool:
    """The subject is one the desk writes itself ("Status of your complaint [...]")."""
    return strip_reply_prefix(subject).casefold().startswith(_own_prefixes())
