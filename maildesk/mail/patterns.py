"""The shapes maildesk recognises in mail, each written once: complaint codes, reply and
forward prefixes ("Re:", "AW:", "Fwd:"), station codes, status requests and our own
Message-IDs."""

from __future__ import annotations

import re

# BHL-2611-0007: station code, year and month (YYMM), number in the month.
_STATION = r"[A-Z]{2,6}"
_CODE = _STATION + r"-\d{4}-\d{4,6}"
STATION_CODE = re.compile(rf"^{_STATION}$")  # a station's code: how every complaint code starts
# Not inside another word: \b knows letters and digits of every script but not the vowel
# signs and viramas of Devanagari and Bengali (nor combining accents and joiners), so
# "BHL-2611-0007ि" would read as a code.  Indic letters, marks and digits all count as word;
# the danda (।, ॥) ends a sentence and does not.
_WORD = r"\w\u0300-\u036f\u0900-\u0963\u0966-\u0dff\u200c\u200d"
CODE = re.compile(rf"(?<![{_WORD}])({_CODE})(?![{_WORD}])", re.IGNORECASE)  # in any text
CODE_ALONE = re.compile(rf"^{_CODE}$", re.IGNORECASE)  # an argument that must be a code

# "STATUS <code>", in English, Bengali, Hindi and Marathi, at the start of a line.
STATUS = re.compile(rf"^\s*(?:status|স্ট্যাটাস|स्थिति|स्टेटस)\b[\s:]*({_CODE})?", re.IGNORECASE)

# Reply prefixes of mail clients in many languages, as many as stand in a row ("Re: AW[2]: ").
# A forward ("Fwd:", "WG:") is not a reply: a forwarded plea is the sender's own report.
_REPLY = r"\s*(?:re|aw|sv|antw|odp|vs|r)\s*(?:\[\d+\])?\s*[:：]"
_FORWARD = r"\s*(?:fwd?|wg|tr|rv|enc)\s*(?:\[\d+\])?\s*[:：]"
REPLY_PREFIXES = re.compile(rf"^(?:{_REPLY}\s*)+", re.IGNORECASE)
REPLY_OR_FORWARD = re.compile(rf"^(?:{_REPLY}|{_FORWARD})", re.IGNORECASE)

# Our Message-IDs: <kind>.<code>.<12 hex>@<message_domain> (see mail.outgoing).
_OWN_ID = r"([a-z_]+)\.[A-Za-z0-9-]+\.[0-9a-f]{12}@"
OWN_MESSAGE_ID = re.compile(rf"^{_OWN_ID}")
# The same, bracketed inside any text: a bounce quotes the headers of the mail it returns.
OWN_MESSAGE_ID_IN_TEXT = re.compile(rf"<({_OWN_ID}[A-Za-z0-9.-]+)>")


def own_kind(message_id: str, domain: str) -> str | None:
    """The kind of one of our own mails ("ack", "status", "help"...) named by a Message-ID
    (without brackets), or None when the id is not one of ours."""
    match = OWN_MESSAGE_ID.match(message_id)
    if match and message_id.lower().endswith("@" + domain.lower()):
        return match.group(1)
    return None


def own_message_ids(text: str, domain: str) -> list[str]:
    """Every one of our Message-IDs quoted in a text (without brackets)."""
    suffix = "@" + domain.lower()
    return list(dict.fromkeys(m.group(1) for m in OWN_MESSAGE_ID_IN_TEXT.finditer(text)
                              if m.group(1).lower().endswith(suffix)))


def strip_reply_prefix(value: object) -> str:
    """The subject without the prefixes clients add: "Re: Re: " reads as broken."""
    return REPLY_PREFIXES.sub("", str(value)).strip()


def is_reply_subject(subject: str) -> bool:
    return REPLY_PREFIXES.match(subject) is not None


def is_reply_or_forward(subject: str) -> bool:
    """The subject names an earlier mail (so it is likely not the sender's own words)."""
    return REPLY_OR_FORWARD.match(subject) is not None


def find_code(text: str) -> str | None:
    """The first complaint code in a text, upper-cased."""
    match = CODE.search(text)
    return match.group(1).upper() if match else None

# A line that reads as an officer's command ("#close ...", "＃ progress"): never joined to the
# next line, never part of a signature or a quote header.
COMMAND_LINE = re.compile(r"^[#＃]\s?[^\W\d_]")
