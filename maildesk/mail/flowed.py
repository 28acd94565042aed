"""Lines a mail client wrapped while sending, joined back as the sender typed them.

A format=flowed mail (RFC 3676) marks its soft breaks with a trailing space, and parse_mail
joins them, except after a command line: a client may leave a typed space after "#close ..."
and the next line must not become part of its argument.  Here a command line is joined to
the next only when the next word could not have fitted on it.  Thunderbird without
format=flowed wraps at _FLOW_WIDTH and marks nothing: every such break is joined the same way.
"""

from __future__ import annotations

import re
from typing import Literal

from maildesk.mail.parse import ParsedMail, header_values
from maildesk.mail.patterns import COMMAND_LINE

_FLOW_WIDTH = 72  # Thunderbird wraps here, counting the soft space
_LIST_ITEM = re.compile(r"^(?:[-*•–]\s|\d{1,3}[.)]\s)")

FlowMode = Literal["declared", "guessed", ""]


def flow_mode(mail: ParsedMail) -> FlowMode:
    """"declared": format=flowed, its soft breaks already joined but after a command line;
    "guessed": Thunderbird without it, wrapped at _FLOW_WIDTH; "": neither."""
    if mail.from_html:
        return ""
    content_type = " ".join(header_values(mail, "content-type")).lower()
    agent = " ".join(header_values(mail, "user-agent") + header_values(mail, "x-mailer"))
    if "format=flowed" in content_type:
        return "declared"
    return "guessed" if "thunderbird" in agent.lower() else ""


def unwrap(lines: list[str], commands_only: bool) -> list[str]:
    """Join the lines the client wrapped: the next word did not fit in _FLOW_WIDTH.
    ``commands_only``: every other break was typed (format=flowed marks its soft breaks, and
    parse_mail joined them), so only a wrapped command line is joined."""
    out: list[str] = []
    prev = ""  # the last line as the client wrote it, before joining
    for line in lines:
        word = line.split(" ", 1)[0]
        if (out and prev.strip() and line.strip() and not prev.startswith(">")
                and (not commands_only or COMMAND_LINE.match(prev))
                and not line[:1].isspace() and not line.startswith(">")
                and not _LIST_ITEM.match(line) and not COMMAND_LINE.match(line)
                and len(prev) + 1 + len(word) >= _FLOW_WIDTH and len(prev) <= _FLOW_WIDTH + 6):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
        prev = line
    return out
