"""Stage: classify a complaint as urgent, semi-urgent or non-urgent, and say why."""

from __future__ import annotations

from dataclasses import dataclass

from maildesk.rules import Rules, normalise

# Very long mails are read up to this many characters: enough for any real complaint, and it
# keeps one pathological mail from holding up the batch.
MAX_CHARS = 50_000


@dataclass(frozen=True)
class Classification:
    urgency: str  # urgent | semi_urgent | non_urgent
    score: float
    reasons: tuple[str, ...]


def _matches(rules: Rules, text: str, factor: float, where: str) -> list[tuple[str, float, str]]:
    found = []
    phrases = list(rules.phrases.values())
    for match in rules.pattern.finditer(text):
        phrase = phrases[match.lastindex - 1]
        if rules.negation is not None:
            before = text[max(0, match.start() - rules.negation_window) : match.start()]
            if rules.negation.search(before):
                found.append((phrase.urgency, 0.0, f"'{phrase.text}' in {where}, negated"))
                continue
        weight = phrase.weight * factor
        found.append((phrase.urgency, weight, f"'{phrase.text}' in {where} (+{weight:g})"))
    return found


def classify(rules: Rules, subject: str, text: str) -> Classification:
    """Score the subject (weighted more) and the text against the configured phrases."""
    hits = _matches(rules, normalise(subject[:1000]), rules.subject_factor, "subject")
    hits += _matches(rules, normalise(text[:MAX_CHARS]), 1.0, "text")
    seen: set[str] = set()
    urgent = semi = 0.0
    reasons = []
    for urgency, weight, reason in hits:
        if reason in seen:  # a phrase repeated ten times is still one reason
            continue
        seen.add(reason)
        reasons.append(f"{urgency}: {reason}")
        if urgency == "urgent":
            urgent += weight
        elif urgency == "semi_urgent":
            semi += weight
    if urgent >= rules.urgent_threshold:
        return Classification("urgent", urgent, tuple(reasons))
    if urgent + semi >= rules.semi_urgent_threshold:
        return Classification("semi_urgent", urgent + semi, tuple(reasons))
    if not reasons:
        reasons.append("no urgent or semi-urgent phrase found")
    return Classification("non_urgent", urgent + semi, tuple(reasons))
