"""Legal notices that a mail server or an office signature puts under the typed text.

Two shapes: a notice that says what it is ("Disclaimer: ...", "This e-mail is confidential
..."), and a notice framed by lines of one repeated mark, as NIC (gov.in) and many offices
append it, in any language:

    **********************************************************************
    यह ई-मेल गोपनीय है ... / The contents of this message are meant for ...
    **********************************************************************

Everything from the notice down is boilerplate, never typed.
"""

from __future__ import annotations

from collections.abc import Sequence

from maildesk.mail import quote_headers as qh

_NOTICE_LINES = 12  # a framed notice longer than this is not one
_NOTICE_MIN_LINES = 2  # "*****\nSee you at 5\n*****" is an officer's emphasis, not a notice


def disclaimer_start(top: Sequence[str], begin: int) -> int:
    """First line of a notice at or below ``begin`` (callers pass the line after the last
    command and the first typed line), len(top) if none.  ``top`` is stripped lines."""
    for i in range(begin, len(top)):
        if qh.DISCLAIMER.match(top[i]):
            # The frame line above a notice that names itself goes with it.
            return i - 1 if i > begin and qh.FRAME.match(top[i - 1]) else i
        if qh.FRAME.match(top[i]) and _framed_notice(top, i):
            return i
    return len(top)


def _framed_notice(top: Sequence[str], opening: int) -> bool:
    """A frame line at ``opening``, a few lines of text, a closing frame line, and nothing
    typed below it: the notice ends the text."""
    end = min(len(top), opening + _NOTICE_LINES + 2)
    closing = next((j for j in range(opening + 1, end) if qh.FRAME.match(top[j])), None)
    if closing is None:
        return False
    inside = [line for line in top[opening + 1 : closing] if line]
    return len(inside) >= _NOTICE_MIN_LINES and not any(top[closing + 1 :])
