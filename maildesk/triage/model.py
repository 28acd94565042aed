"""A second opinion on urgency: a small statistical model of character 4-grams.

The phrase rules know the words someone wrote down; residents write in ways nobody listed
(romanised Bengali spelt five ways, a mother's apology, an old man's sadhu bhasha).  Character
4-grams of the normalised text (`maildesk.triage.normalise`) catch much of that spelling.  The
model is a logistic regression over which 4-grams a mail contains, urgent against the rest,
trained on the writers' labelled mails (tests/triage/writers/) and the project's own sets.
Its score is the probability it gives the mail of being urgent.  Unlike naive Bayes, which
counted every 4-gram of a formal letter's salutation as evidence on its own, the regression
weighs 4-grams together: what every kind of mail shares (a letter's formula, a station's
name) weighs almost nothing.

It may only raise a mail to urgent, never lower one: a missed urgent complaint is the costliest
error a desk can make.  Its vote is always listed in the reasons.  The trained weights ship in
the package (model.json.gz) and are rebuilt with `bench/triage.py --train`; leave-one-writer-out
in bench/triage.py trains it without the writer it measures.  Training uses scikit-learn
(the `test` extra); the daemon only adds up weights.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maildesk.triage.normalise import normalise

__all__ = ["Model", "load_model", "train", "MODEL_PATH"]

MODEL_PATH = Path(__file__).resolve().parent / "model.json.gz"
GRAM = 4
MAX_CHARS = 3000  # the model reads the subject and this much of the text
MIN_COUNT = 2  # a 4-gram seen in fewer mails carries no weight
DEFAULT_THRESHOLD = 0.35  # chosen on the writers held out in turn (docs/triage.md)
UNIT = 10_000  # weights are kept as whole ten-thousandths (see Model.values)
# The regression's strength of regularisation (scikit-learn's C; smaller: smoother weights),
# chosen on the writers held out in turn.
REGULARISATION = 1.0


def _flat(subject: str, text: str) -> str:
    """What the model reads: the normalised subject and start of the text, spaces folded."""
    return _spaced(normalise(f"{subject} . {text[:MAX_CHARS]}"))


def _spaced(normalised: str) -> str:
    return " " + " ".join(normalised.split()) + " "


def grams(subject: str, text: str) -> set[str]:
    """The distinct character 4-grams of the normalised subject and start of the text."""
    flat = _flat(subject, text)
    return {flat[i:i + GRAM] for i in range(len(flat) - GRAM + 1)}


def _key(gram: str) -> int:
    """A 4-gram of the Basic Multilingual Plane as one 64-bit number: 16 bits a character,
    so two different 4-grams never share a key (no hashing, no collisions)."""
    a, b, c, d = map(ord, gram)
    return (a << 48) | (b << 32) | (c << 16) | d


@dataclass(frozen=True)
class Model:
    weights: dict[str, float]  # 4-gram -> its weight in the regression (4 decimals)
    threshold: float = DEFAULT_THRESHOLD
    bias: float = 0.0  # the regression's intercept
    # The same weights as two arrays, sorted by key (see _key), for the fast path of score;
    # 4-grams outside the Basic Multilingual Plane (emoji) are only in `weights`.
    keys: np.ndarray = field(init=False, repr=False, compare=False)
    values: np.ndarray = field(init=False, repr=False, compare=False)  # in UNITs

    def __post_init__(self) -> None:
        bmp = [(g, w) for g, w in self.weights.items()
               if len(g) == GRAM and max(map(ord, g)) <= 0xFFFF]
        keys = np.fromiter((_key(g) for g, _ in bmp), dtype=np.uint64, count=len(bmp))
        # weights are rounded to ten-thousandths (train): summed as whole units, the total
        # is exact whatever the order, and numpy adds integers in C
        values = np.fromiter((round(w * UNIT) for _, w in bmp), dtype=np.int64,
                             count=len(bmp))
        order = np.argsort(keys)
        object.__setattr__(self, "keys", keys[order])
        object.__setattr__(self, "values", values[order])

    def score(self, subject: str, text: str) -> float:
        """The probability that the mail is urgent: the logistic function of the bias plus
        the weights of the mail's distinct 4-grams (unknown ones weigh 0).  The weights are
        whole ten-thousandths and are added as such: the sum is exact, whatever order the
        4-grams are met in."""
        return self._score(_flat(subject, text))

    def score_normalised(self, subject: str, text: str) -> float:
        """score(s, t) from normalise(s) and normalise(t), when t is at most MAX_CHARS long:
        the classifier has normalised both already.  The same score, because normalising
        f"{s} . {t}" gives f"{normalise(s)} . {normalise(t)}": " . " stays as it is and no
        rule of normalise reaches across it (tested in tests/test_classify.py)."""
        return self._score(_spaced(f"{subject} . {text}"))

    def _score(self, flat: str) -> float:
        # one 16-bit code per character, unless a character lies beyond the BMP (an emoji)
        codes = np.frombuffer(flat.encode("utf-16-le"), dtype="<u2")
        if len(codes) != len(flat):
            found = {flat[i:i + GRAM] for i in range(len(flat) - GRAM + 1)}
            weights = self.weights
            return self._probability(sum(round(weights[g] * UNIT)
                                         for g in weights.keys() & found))
        if len(codes) < GRAM:
            return self._probability(0)
        wide = codes.astype(np.uint64)
        found = np.sort((wide[:-3] << np.uint64(48)) | (wide[1:-2] << np.uint64(32))
                        | (wide[2:-1] << np.uint64(16)) | wide[3:])
        # distinct by sort and compare (np.unique is slower on short arrays)
        distinct = found[np.concatenate(([True], found[1:] != found[:-1]))]
        units = 0
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys, distinct), len(self.keys) - 1)
            units = int(self.values[at[self.keys[at] == distinct]].sum())
        return self._probability(units)

    def _probability(self, units: int) -> float:
        return 1.0 / (1.0 + math.exp(-(self.bias + units / UNIT)))


def train(mails: Iterable[tuple[str, str, bool]], threshold: float = DEFAULT_THRESHOLD,
          ) -> Model:
    """A model from (subject, text, is urgent) triples: a logistic regression (scikit-learn,
    L2, the classes weighed equally) over the 4-grams seen in at least MIN_COUNT mails."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression  # training only, never the daemon

    found, labels = [], []
    for subject, text, urgent in mails:
        found.append(grams(subject, text))
        labels.append(bool(urgent))
    seen = Counter(g for mail in found for g in mail)
    vocabulary = sorted(g for g, n in seen.items() if n >= MIN_COUNT)
    if not vocabulary or len(set(labels)) < 2:
        return Model({}, threshold)
    column = {g: i for i, g in enumerate(vocabulary)}
    rows, cols = [], []
    for row, mail in enumerate(found):
        for gram in mail:
            if gram in column:
                rows.append(row)
                cols.append(column[gram])
    matrix = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(found), len(column)))
    regression = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=5000)
    regression.fit(matrix, labels)
    weights = {g: round(float(w), 4) for g, w in zip(vocabulary, regression.coef_[0],
                                                     strict=True) if round(float(w), 4)}
    return Model(weights, threshold, round(float(regression.intercept_[0]), 4))


def save_model(model: Model, path: Path = MODEL_PATH) -> None:
    data = {"gram": GRAM, "threshold": model.threshold, "bias": model.bias,
            "weights": model.weights}
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
                 float(data["threshold"]), float(data.get("bias", 0.0)))
