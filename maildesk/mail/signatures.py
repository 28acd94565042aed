"""An officer's own signature, learned from their earlier replies.

No rule knows that "A. Hossain / SI, Gariahat PS / 98310 44217" is a signature, but an
officer who ends two earlier replies with the same block of lines ends every reply with it.
The block is learned from the typed text of those replies (their quotes and client footers
already gone) and cut from a new reply only when the reply ends with exactly that block and
has typed text above it.  Command lines are never part of a signature.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from maildesk.mail.patterns import COMMAND_LINE

_MAX_LINES = 8  # a name, rank, station, phones, a motto: longer blocks are not signatures
_MAX_WIDTH = 120
_MIN_REPLIES = 2  # replies that must end with the same block
_SPACE = re.compile(r"\s+")


def _key(line: str) -> str:
    return _SPACE.sub(" ", line).strip().casefold()


def _content(lines: Sequence[str]) -> list[str]:
    return [key for line in lines if (key := _key(line))]


def learned_tails(earlier: Sequence[str], typed: Callable[[str], str]) -> list[tuple[str, ...]]:
    """Trailing blocks (normalised lines) that at least _MIN_REPLIES of the ``earlier``
    replies end with, each with typed text above it; the most shared first.  ``typed`` reads one
    earlier reply's typed text."""
    counts: Counter[tuple[str, ...]] = Counter()
    for text in dict.fromkeys(earlier):  # the same mail stored twice counts once
        lines = _content(typed(text).splitlines())
        for size in range(1, min(_MAX_LINES, len(lines) - 1) + 1):
            tail = tuple(lines[-size:])
            if any(COMMAND_LINE.match(line) or len(line) > _MAX_WIDTH for line in tail):
                break
            counts[tail] += 1
    # The block most replies share first (a sentence two replies happened to end with above
    # the signature makes a longer but rarer block), then the longest.
    ranked = sorted(counts.items(), key=lambda item: (item[1], len(item[0])), reverse=True)
    learned = [(tail, n) for tail, n in ranked if n >= _MIN_REPLIES]
    # The last lines of a signature are no signature of their own: a block that ends a
    # longer learned block in as many replies is that block.
    return [tail for tail, n in learned
            if not any(m == n and len(t) > len(tail) and t[-len(tail):] == tail
                       for t, m in learned)]


def signature_start(lines: Sequence[str], tails: Sequence[tuple[str, ...]]) -> int:
    """Index in ``lines`` where a learned signature begins, len(lines) if the reply does not
    end with one (or would have nothing left above it)."""
    if not tails:
        return len(lines)
    longest = max(map(len, tails)) + 1  # the block and one typed line above it
    last = [i for i, line in enumerate(lines) if line.strip()][-longest:]
    content = [(i, _key(lines[i])) for i in last]
    for tail in tails:
        if len(content) > len(tail) and tuple(k for _, k in content[-len(tail):]) == tail:
            return content[-len(tail)][0]
    return len(lines)
