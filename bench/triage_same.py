"""Check that a change to maildesk/triage/ changed no decision: the same urgency, score,
reasons and second-opinion vote for every mail, against the classifier of an earlier commit.

    .venv/bin/python bench/triage_same.py                 # against the commit before the speed work
    .venv/bin/python bench/triage_same.py --against HEAD~3
    .venv/bin/python bench/triage_same.py --quick         # without the 1 MB mails and the fuzz

The older classifier is taken from git (`git archive REV maildesk`) into a temporary folder
and given today's policy.yaml, so a change of the policy by others does not show as a
difference: only the code is compared.  Each side runs in a process of its own and prints
its decisions as JSON lines; this script compares them.

The mails: every labelled set of tests/triage/ (dev, holdout, each writer), the real mails of
tests/mail (parsed), the mails bench/triage.py times (500 to 5,000 characters made of the
cases, and the 1 MB mails), and a few thousand random mails made of the policy's own phrases,
negations, time words and punctuation (seeded), which reach corners the sets do not.
Each is classified three ways: with the shipped rules and model; without the model and with
"close to urgent" off; and with a model trained, by that side's own `train`, without writer
w1 (the leave-one-writer-out path).  The model's raw vote is compared to 1e-9, everything
else exactly (but for the two decimals of the vote shown in the reasons, see `_same`).
Exit 1 on any difference.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "67fe29b"  # maildesk before the classification speed work

# Run inside each side's process: reads the mails (JSON) from argv[1], prints decisions.
WORKER = r"""
import dataclasses, gzip, json, sys
from maildesk.triage.classify import classify
from maildesk.triage.model import train
from maildesk.triage.phrases import read_policy, POLICY

mails = json.loads(gzip.open(sys.argv[1], "rt", encoding="utf-8").read())
training = json.loads(gzip.open(sys.argv[2], "rt", encoding="utf-8").read())
rules = read_policy(POLICY)
variants = {
    "shipped": rules,
    "rules only": dataclasses.replace(rules, model=None, err_urgent=False),
    "model without w1": dataclasses.replace(
        rules, model=train([(s, t, bool(u)) for s, t, u in training])),
}
out = sys.stdout
for name, variant in variants.items():
    for key, subject, text in mails:
        c = classify(variant, subject, text)
        vote = None
        if variant.model is not None:
            from maildesk.triage.classify import _segments
            parts = _segments(subject or "", text or "", variant.max_chars)
            new_subject = parts[0][0] if parts[0][1] == 0 else ""
            vote = variant.model.score(new_subject, "\n".join(p for p, w in parts[1:] if w == 1))
        out.write(json.dumps([name, key, c.urgency, c.score, list(c.reasons), c.urgent_score,
                              c.semi_urgent_score, vote], ensure_ascii=False) + "\n")
"""


def _mails(quick: bool) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, bool]]]:
    """(key, subject, text) of every mail to compare, and the training set without w1."""
    sys.path.insert(0, str(ROOT / "tests"))
    from triage import evaluate
    from triage.evaluate import PARTS, load, load_writers

    from maildesk.mail.parse import parse_mail

    mails: list[tuple[str, str, str]] = []
    cases = [c for part in PARTS for c in load(part)]
    writers = load_writers()
    everything = cases + [c for cs in writers.values() for c in cs]
    mails += [(f"case {c.writer or 'own'} {c.id}", c.subject, c.text) for c in everything]
    for path in sorted((ROOT / "tests" / "mail").glob("*.eml")):
        mail = parse_mail(path.read_bytes())
        mails.append((f"mail {path.name}", mail.subject, mail.text))
    for size in (500, 1000, 2000, 5000):
        for language in evaluate.LANGUAGES:
            texts = [c.text for c in cases if c.language == language]
            for start in range(0, len(texts), 7):
                body = "\n\n".join(texts[start:] + texts[:start])
                while len(body) < size:
                    body += "\n\n" + body
                mails.append((f"made {size} {language} {start}", "Complaint", body[:size]))
    if not quick:
        spec = importlib.util.spec_from_file_location("bench_triage", ROOT / "bench" / "triage.py")
        assert spec is not None and spec.loader is not None
        bench_triage = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench_triage)
        for name, (subject, text, _) in bench_triage.one_mb_mails(cases).items():
            mails.append((f"1 MB {name}", subject, text))
        mails += _fuzz(everything, 3000)
    training = [(c.subject, c.text, c.label == "urgent")
                for w, cs in writers.items() if w != "w1" for c in cs]
    training += [(c.subject, c.text, c.label == "urgent") for c in cases]
    return mails, training


def _fuzz(cases: list, count: int) -> list[tuple[str, str, str]]:
    """Random mails of the policy's phrase words mixed with the cases' words and marks."""
    import yaml

    policy = yaml.safe_load((ROOT / "maildesk" / "triage" / "policy.yaml").read_text("utf-8"))
    phrases: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, str):
            phrases.append(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, int | float) and isinstance(key, str):
                    phrases.append(key)
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(policy)
    pieces = []
    for text in phrases:
        for alternative in text.replace(" + ", " / ").split(" / "):
            words = [w.split("|")[0].rstrip("*$") for w in alternative.split() if w != "..."]
            if words:
                pieces.append(" ".join(words))
    words = [w for c in cases[:400] for w in c.text.split()]
    marks = [". ", ", ", "; ", "! ", "\n\n", "\n> ", " - ", " (", ") ", "? ", "\n"]
    rng = random.Random(20261203)
    mails = []
    for n in range(count):
        size = rng.choice((5, 20, 60, 200))
        bits = []
        for _ in range(size):
            roll = rng.random()
            bits.append(rng.choice(pieces) if roll < 0.45 else rng.choice(words)
                        if roll < 0.85 else rng.choice(marks))
        text = " ".join(bits)
        if n % 10 == 0:
            text += "\n\nOn Mon, 1 Dec 2026, someone wrote:\n> " + " ".join(
                rng.choice(pieces) for _ in range(5))
        subject = rng.choice(("", "Re: " + rng.choice(pieces), rng.choice(pieces),
                              "Complaint"))
        mails.append((f"fuzz {n}", subject, text))
    return mails


def _run(tree: Path, mails_file: Path, training_file: Path) -> dict[tuple[str, str], list]:
    done = subprocess.run([sys.executable, "-c", WORKER, str(mails_file), str(training_file)],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"classifier in {tree} failed:\n{done.stderr[-3000:]}")
    result = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        result[(row[0], row[1])] = row[2:]
    return result


def _old_tree(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "maildesk"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    # today's policy, so that only the code differs
    shutil.copy(ROOT / "maildesk" / "triage" / "policy.yaml", into / "maildesk" / "triage")
    return into


_VOTE = re.compile(r"(second opinion \(character model\): .*score )-?[0-9.]+")


def _same(old: list, new: list) -> bool:
    """Equal, but for the last bits of the model's vote.  Before the speed work the vote was
    a float sum in set order, which Python's per-process string hashing shuffles: the same
    mail could show "score 0.10" in one process and "0.09" in the next.  Its two-decimal
    display is therefore compared only through the raw vote (to 1e-9)."""
    *fields_old, vote_old = old
    *fields_new, vote_new = new
    if vote_old is None or vote_new is None:
        return fields_old == fields_new and vote_old == vote_new
    if abs(vote_old - vote_new) >= 1e-9:
        return False

    def masked(fields: list) -> list:
        return [*fields[:2], [_VOTE.sub(r"\1~", r) for r in fields[2]], *fields[3:]]

    return masked(fields_old) == masked(fields_new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=BASELINE, help="the git revision to compare with")
    parser.add_argument("--quick", action="store_true", help="leave out 1 MB mails and fuzz")
    parser.add_argument("--show", type=int, default=5, help="differences to print")
    args = parser.parse_args()
    mails, training = _mails(args.quick)
    with tempfile.TemporaryDirectory(prefix="maildesk-same-") as tmp:
        mails_file, training_file = Path(tmp) / "mails.json.gz", Path(tmp) / "training.json.gz"
        with gzip.open(mails_file, "wt", encoding="utf-8") as out:
            json.dump(mails, out, ensure_ascii=False)
        with gzip.open(training_file, "wt", encoding="utf-8") as out:
            json.dump(training, out, ensure_ascii=False)
        old_dir = Path(tmp) / "old"
        old_dir.mkdir()
        old = _run(_old_tree(args.against, old_dir), mails_file, training_file)
        new = _run(ROOT, mails_file, training_file)
    differ = [key for key in old if key not in new or not _same(old[key], new[key])]
    print(f"{len(mails):,} mails x {len(old) // max(len(mails), 1)} ways compared with "
          f"{args.against}: {len(differ)} differ")
    for key in differ[:args.show]:
        print(f"\n{key}:\n  before: {old[key]}\n  now:    {new.get(key)}")
    return 1 if differ or len(old) != len(new) else 0


if __name__ == "__main__":
    sys.exit(main())
