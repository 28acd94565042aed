"""The labelled triage cases and the figures computed on them (shared by tests and bench).

Two parts, one JSON object per line:
    dev.jsonl      the development set the rules were written against;
    holdout.jsonl  written first, before any rule, and never used to tune the rules.
Fields: id, language (en hi bn mr hi-latn bn-latn), subject, text, label (urgent |
semi_urgent | non_urgent), note (why the label; which trap).

writers/<writer>.jsonl hold mails written by independent writers who never saw the rules
(one voice each); besides the fields above they carry `hard` (true for a trap) and may carry
`writer`.  `load_writers()` reads them all; bench/triage.py holds each writer out in turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("dev", "holdout")
CLASSES = ("urgent", "semi_urgent", "non_urgent")
LANGUAGES = ("en", "hi", "bn", "mr", "hi-latn", "bn-latn")
FIELDS = ("id", "language", "subject", "text", "label", "note")
WRITER_FIELDS = (*FIELDS, "hard")
WRITERS = HERE / "writers"


@dataclass(frozen=True)
class Case:
    id: str
    language: str
    subject: str
    text: str
    label: str
    note: str
    hard: bool = False
    writer: str = ""


def load(part: str) -> list[Case]:
    return read_cases(HERE / f"{part}.jsonl")


def read_cases(path: Path, writer: str = "") -> list[Case]:
    """The cases of one JSON-lines file.  A writer's file (`writer` given) must carry `hard`;
    a line still being written (the last, cut short) is an error, not skipped."""
    cases = []
    required = set(WRITER_FIELDS if writer else FIELDS)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        data = json.loads(line)
        if writer:
            data.setdefault("writer", writer)
        if not required <= set(data) or not set(data) <= {*WRITER_FIELDS, "writer"}:
            raise ValueError(f"{path}:{number}: fields must be {', '.join(sorted(required))}")
        data["hard"] = bool(data.get("hard", False))
        case = Case(**data)
        if case.label not in CLASSES or case.language not in LANGUAGES:
            raise ValueError(f"{path}:{number}: bad label or language")
        cases.append(case)
    return cases


def load_writers(folder: Path = WRITERS) -> dict[str, list[Case]]:
    """writer -> their cases, for every writers/<writer>.jsonl."""
    return {path.stem: read_cases(path, path.stem) for path in sorted(folder.glob("*.jsonl"))}


@dataclass
class Scores:
    n: int = 0
    confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: {t: dict.fromkeys(CLASSES, 0) for t in CLASSES})

    def add(self, truth: str, predicted: str) -> None:
        self.n += 1
        self.confusion[truth][predicted] += 1

    def precision(self, cls: str) -> float:
        predicted = sum(self.confusion[t][cls] for t in CLASSES)
        return self.confusion[cls][cls] / predicted if predicted else 1.0

    def recall(self, cls: str) -> float:
        actual = sum(self.confusion[cls].values())
        return self.confusion[cls][cls] / actual if actual else 1.0

    def f1(self, cls: str) -> float:
        p, r = self.precision(cls), self.recall(cls)
        return 2 * p * r / (p + r) if p + r else 0.0

    def support(self, cls: str) -> int:
        return sum(self.confusion[cls].values())

    def macro_f1(self) -> float:
        present = [c for c in CLASSES if self.support(c)]
        return sum(self.f1(c) for c in present) / len(present) if present else 1.0

    def accuracy(self) -> float:
        return sum(self.confusion[c][c] for c in CLASSES) / self.n if self.n else 1.0


def score(cases: Iterable[Case], predict: Callable[[Case], str]
          ) -> tuple[Scores, dict[str, Scores], list[tuple[Case, str]]]:
    """Overall scores, scores per language, and the misclassified cases."""
    overall, by_language, wrong = Scores(), {}, []
    for case in cases:
        predicted = predict(case)
        overall.add(case.label, predicted)
        by_language.setdefault(case.language, Scores()).add(case.label, predicted)
        if predicted != case.label:
            wrong.append((case, predicted))
    return overall, by_language, wrong


def missed_urgent(wrong: Iterable[tuple[Case, str]]) -> list[Case]:
    """Urgent mails called non-urgent: the error a desk must never make."""
    return [case for case, predicted in wrong
            if case.label == "urgent" and predicted == "non_urgent"]
