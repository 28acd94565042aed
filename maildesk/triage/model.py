"""A second opinion on urgency: a small statistical model of character 4-grams.

The phrase rules know the words someone wrote down; residents write in ways nobody listed
(romanised Bengali spelt five ways, a mother's apology, an old man's sadhu bhasha).  Character
4-grams of the normalised text (`maildesk.triage.normalise`) catch much of that spelling.  The
model is naive Bayes over which 4-grams a mail contains, urgent against the rest, trained on
the writers' labelled mails (tests/triage/writers/) and the project's own sets; its score is the
mean log-ratio of the mail's 4-grams, so a long mail is not "more urgent" for being long.

It may only raise a mail to urgent, never lower one: a missed urgent complaint is the costliest
error a desk can make.  Its vote is always listed in the reasons.  The trained weights ship in
the package (model.json.gz) and are rebuilt with `bench/triage.py --train`; leave-one-writer-out
in bench/triage.py trains it without the writer it measures.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from maildesk.triage.normalise import normalise

__all__ = ["Model", "load_model", "train", "MODEL_PATH"]

MODEL_PATH = Path(__file__).resolve().parent / "model.json.gz"
GRAM = 4
MAX_CHARS = 3000  # the model reads the subject and this much of the text
MIN_COUNT = 2  # a 4-gram seen in fewer mails carries no weight
DEFAULT_THRESHOLD = 0.15  # chosen on the writers held out in turn (docs/triage.md)
# The score is a mean that counts this many neutral 4-grams besides the mail's own: a
# three-word mail must not be called urgent on the strength of two 4-grams.
PRIOR_GRAMS = 100


def grams(subject: str, text: str) -> set[str]:
    """The distinct character 4-grams of the normalised subject and start of the text."""
    flat = " " + " ".join(normalise(f"{subject} . {text[:MAX_CHARS]}").split()) + " "
    return {flat[i:i + GRAM] for i in range(len(flat) - GRAM + 1)}


@dataclass(frozen=True)
class Model:
    weights: dict[str, float]  # 4-gram -> log-ratio of urgent against the rest
    threshold: float = DEFAULT_THRESHOLD

    def score(self, subject: str, text: str) -> float:
        found = grams(subject, text)
        weights = self.weights
        # the 4-grams the model knows, found by a set intersection (in C, not a Python loop)
        return (sum(map(weights.__getitem__, weights.keys() & found))
                / (len(found) + PRIOR_GRAMS))


def train(mails: Iterable[tuple[str, str, bool]], threshold: float = DEFAULT_THRESHOLD,
          ) -> Model:
    """A model from (subject, text, is urgent) triples."""
    counts = {True: Counter(), False: Counter()}
    docs = {True: 0, False: 0}
    for subject, text, urgent in mails:
        docs[urgent] += 1
        counts[urgent].update(grams(subject, text))
    weights = {}
    for gram in counts[True].keys() | counts[False].keys():
        yes, no = counts[True][gram], counts[False][gram]
        if yes + no < MIN_COUNT:
            continue
        weight = (math.log((yes + 0.5) / (docs[True] + 1))
                  - math.log((no + 0.5) / (docs[False] + 1)))
        weights[gram] = round(weight, 3)
    return Model(weights, threshold)


def save_model(model: Model, path: Path = MODEL_PATH) -> None:
    data = {"gram": GRAM, "threshold": model.threshold, "weights": model.weights}
    with gzip.open(path, "wt", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def load_model(path: Path = MODEL_PATH) -> Model | None:
    """The shipped model, or None when the package was built without one."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as source:
            data = json.load(source)
    except FileNotFoundError:
        return None
    return Model({str(k): float(v) for k, v in data["weights"].items()},
                 float(data["threshold"]))
