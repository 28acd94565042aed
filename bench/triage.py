"""Triage quality and speed on the labelled cases in tests/triage/.

    .venv/bin/python bench/triage.py                 # both parts, speed on one core
    .venv/bin/python bench/triage.py --errors dev    # also list the misclassified dev cases
    .venv/bin/python bench/triage.py --writers --no-speed   # leave-one-writer-out only
    .venv/bin/python bench/triage.py --measure FILE  # a writer's file not yet in tests/
    .venv/bin/python bench/triage.py --speed-only    # the speed part alone

Quality, for the dev part, the held-out part and both together: urgent recall, macro-F1,
accuracy, precision / recall / F1 per class, the confusion matrix, and the same per language.
Speed, pinned to one CPU, in this process's CPU time: mails per second over all cases and
over the real mails of tests/mail (typical mails), per language, the slowest single case,
and the slowest of a set of 1 MB mails (prose in each script, a long quoted tail, one
endless word, a wall of trigger words, an urgent fact at 19,000 characters).
Nothing here is asserted: tests/test_triage.py asserts the quality thresholds; speed depends
on the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from triage.evaluate import (  # noqa: E402
    CLASSES,
    LANGUAGES,
    PARTS,
    Case,
    Scores,
    load,
    load_writers,
    missed_urgent,
    read_cases,
    score,
)

from maildesk.mail.parse import parse_mail  # noqa: E402
from maildesk.triage.classify import classify  # noqa: E402
from maildesk.triage.model import MODEL_PATH, save_model, train  # noqa: E402
from maildesk.triage.phrases import read_rules  # noqa: E402

SHORT = {"urgent": "urgent", "semi_urgent": "semi", "non_urgent": "non"}


def quality(title: str, overall: Scores, by_language: dict[str, Scores]) -> None:
    print(f"\n== {title}: {overall.n} cases ==")
    print(f"urgent recall {overall.recall('urgent'):.3f}   macro-F1 {overall.macro_f1():.3f}   "
          f"accuracy {overall.accuracy():.3f}")
    print(f"{'class':<12}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for cls in CLASSES:
        print(f"{cls:<12}{overall.precision(cls):>10.3f}{overall.recall(cls):>8.3f}"
              f"{overall.f1(cls):>8.3f}{overall.support(cls):>9}")
    print("confusion (rows: label, columns: predicted)")
    print(f"{'':<12}" + "".join(f"{SHORT[c]:>8}" for c in CLASSES))
    for truth in CLASSES:
        print(f"{truth:<12}" + "".join(f"{overall.confusion[truth][p]:>8}" for p in CLASSES))
    print(f"{'language':<10}{'n':>4}{'acc':>7}{'urgR':>7}{'macroF1':>9}"
          + "".join(f"{'F1 ' + SHORT[c]:>11}" for c in CLASSES))
    for language in LANGUAGES:
        s = by_language.get(language)
        if s is None:
            continue
        print(f"{language:<10}{s.n:>4}{s.accuracy():>7.3f}{s.recall('urgent'):>7.3f}"
              f"{s.macro_f1():>9.3f}" + "".join(
                  f"{s.f1(c):>11.3f}" if s.support(c) else f"{'-':>11}" for c in CLASSES))


def writer_figures(title: str, cases: list[Case], rules, errors: bool = False) -> Scores:
    """One writer's (or a pool's) figures: overall, per language, per class, confusion, the
    hard cases apart, and every urgent mail called non-urgent."""
    overall, by_language, wrong = score(
        cases, lambda c: classify(rules, c.subject, c.text).urgency)
    quality(title, overall, by_language)
    hard = [c for c in cases if c.hard]
    if hard:
        h, _, _ = score(hard, lambda c: classify(rules, c.subject, c.text).urgency)
        print(f"hard cases: {h.n}, urgent recall {h.recall('urgent'):.3f}, "
              f"macro-F1 {h.macro_f1():.3f}, accuracy {h.accuracy():.3f}")
    missed = missed_urgent(wrong)
    print(f"urgent called non-urgent: {len(missed)}"
          + (f" ({', '.join(c.id for c in missed)})" if missed else ""))
    if errors:
        for case, predicted in wrong:
            result = classify(rules, case.subject, case.text)
            print(f"\n  {case.id}: {case.label} -> {predicted}  ({case.note})"
                  f"{'  [hard]' if case.hard else ''}")
            print(f"    subject: {case.subject!r}")
            print(f"    text: {case.text[:300]!r}")
            for reason in result.reasons:
                print(f"      - {reason}")
    return overall


def _triples(cases: list[Case]) -> list[tuple[str, str, bool]]:
    return [(c.subject, c.text, c.label == "urgent") for c in cases]


def writers(rules, errors: bool) -> None:
    """Leave-one-writer-out.  The character model is trained without the writer it
    measures (on the other writers and the project's own sets).  The rules are hand-written:
    for them a writer is truly "left out" only while measured before anything was tuned on
    them; those first figures are logged in docs/triage.md."""
    sets = load_writers()
    own = [c for part in PARTS for c in load(part)]
    pool: list[Case] = []
    predicted: dict[str, str] = {}  # case id -> urgency, its writer held out from the model
    for writer, cases in sets.items():
        others = [c for w, cs in sets.items() if w != writer for c in cs] + own
        held_out = dataclasses.replace(rules, model=train(_triples(others)))
        writer_figures(f"writer {writer} held out", cases, held_out, errors)
        for case in cases:
            predicted[case.id] = classify(held_out, case.subject, case.text).urgency
        pool += cases
    if pool:
        title = f"all {len(sets)} writers, each held out from the model"
        overall, by_language, _ = score(pool, lambda c: predicted[c.id])
        quality(title, overall, by_language)
        hard, _, _ = score([c for c in pool if c.hard], lambda c: predicted[c.id])
        print(f"hard cases: {hard.n}, urgent recall {hard.recall('urgent'):.3f}, "
              f"macro-F1 {hard.macro_f1():.3f}, accuracy {hard.accuracy():.3f}")
        writer_figures(f"all {len(sets)} writers, shipped model (trained on them all)", pool,
                       rules)


def precision_cost(rules) -> None:
    """What erring towards urgent costs: urgent precision and recall on all writers' mails
    with the phrase scores alone, with "close to urgent" (harm categories and near the line),
    and with the second opinion too (trained without the writer measured)."""
    sets = load_writers()
    own = [c for part in PARTS for c in load(part)]
    plain = dataclasses.replace(rules, err_urgent=False, model=None)
    close = dataclasses.replace(rules, model=None)
    variants = {"phrase scores only": Scores(), "+ close to urgent": Scores(),
                "+ second opinion (writer held out)": Scores()}
    for writer, cases in sets.items():
        others = [c for w, cs in sets.items() if w != writer for c in cs] + own
        full = dataclasses.replace(rules, model=train(_triples(others)))
        for (_, scores), variant in zip(variants.items(), (plain, close, full), strict=True):
            for case in cases:
                scores.add(case.label, classify(variant, case.subject, case.text).urgency)
    print("\n== the cost of erring towards urgent (all writers) ==")
    print(f"{'':<38}{'urg P':>7}{'urg R':>7}{'macroF1':>9}{'called urgent':>15}"
          f"{'urgent→non':>12}")
    for name, s in variants.items():
        called = sum(s.confusion[t]["urgent"] for t in CLASSES)
        print(f"{name:<38}{s.precision('urgent'):>7.3f}{s.recall('urgent'):>7.3f}"
              f"{s.macro_f1():>9.3f}{called:>15}{s.confusion['urgent']['non_urgent']:>12}")


def one_mb_mails(cases: list[Case]) -> dict[str, tuple[str, str, str | None]]:
    """name -> (subject, text, the urgency it must get or None)."""
    rng = random.Random(7)
    size = 1_000_000

    def prose(language: str) -> str:
        words = " ".join(c.text for c in cases if c.language == language).split()
        return " ".join(rng.choice(words) for _ in range(size // 4))[:size]

    filler = ("The society meeting discussed the water supply, the parking of tempos and the "
              "repair of the compound wall. ")
    buried = (filler * 200)[:19_000] + " Right now a man is stabbing the watchman at our gate. "
    return {
        "English prose": ("Complaint", prose("en"), None),
        "Hindi prose": ("शिकायत", prose("hi"), None),
        "Bengali prose": ("অভিযোগ", prose("bn"), None),
        "Marathi prose": ("तक्रार", prose("mr"), None),
        "romanised Hindi prose": ("complaint", prose("hi-latn"), None),
        "quoted tail": ("Re: complaint", "Thank you.\n\n" + ("> fire trapped stabbed\n" * 50_000)[
            :size], "non_urgent"),
        "one endless word": ("x", "a" * size, "non_urgent"),
        "wall of trigger words": ("fire", ("fire stabbed bachao আগুন नहीं no " * 40_000)[:size],
                                  None),
        "urgent fact at 19,000 chars": ("Society matters", (buried + filler * 10_000)[:size],
                                        "urgent"),
        "blank lines": ("x", "\n" * size, "non_urgent"),
    }


def speed(cases: list[Case], seconds: float) -> None:
    rules = read_rules(HERE.parent / "config" / "rules.yaml")
    print("\n== speed ==")
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to CPU {cpu}")
    except (AttributeError, OSError):
        print("(could not pin to one CPU)")
    for case in cases:  # warm up
        classify(rules, case.subject, case.text)
    gc.freeze()  # as `maildesk run` and its workers do after start-up

    def rate(subset: list[Case], budget: float) -> float:
        """Mails per second of this process's CPU time, the best of three runs (on a busy
        machine the wall clock also counts the time other processes hold the core)."""
        best = 0.0
        for _ in range(3):
            count, start = 0, time.process_time()
            while time.process_time() - start < budget / 3:
                for case in subset:
                    classify(rules, case.subject, case.text)
                count += len(subset)
            best = max(best, count / (time.process_time() - start))
        return best

    mean_chars = statistics.mean(len(c.subject) + len(c.text) for c in cases)
    print(f"all cases: {rate(cases, seconds):,.0f} mails/s (mean {mean_chars:,.0f} characters)")
    fixtures = []
    for path in sorted((HERE.parent / "tests" / "mail").glob("*.eml")):
        mail = parse_mail(path.read_bytes())
        fixtures.append(Case(path.stem, "", mail.subject, mail.text, "", ""))
    if fixtures:
        mean_chars = statistics.mean(len(c.subject) + len(c.text) for c in fixtures)
        print(f"real mails of tests/mail (parsed): {rate(fixtures, seconds / 2):,.0f} mails/s "
              f"(mean {mean_chars:,.0f} characters)")
    for language in LANGUAGES:
        subset = [c for c in cases if c.language == language]
        print(f"  {language:<10}{rate(subset, seconds / 2):>10,.0f} mails/s")
    print("by length (mails made of the cases' texts, one language each):")
    for size in (500, 1000, 2000, 5000):
        made = []
        for language in LANGUAGES:
            texts = [c.text for c in cases if c.language == language]
            for start in range(0, len(texts), 7):
                body = "\n\n".join(texts[start:] + texts[:start])
                while len(body) < size:
                    body += "\n\n" + body
                made.append(Case("", language, "Complaint", body[:size], "", ""))
        print(f"  {size:>5} characters: {rate(made, seconds / 2):>8,.0f} mails/s")

    def timed(subject: str, text: str, runs: int) -> tuple[list[float], str]:
        times, urgency = [], ""
        for _ in range(runs):
            t = time.process_time()  # CPU time: see rate
            urgency = classify(rules, subject, text).urgency
            times.append(time.process_time() - t)
        return times, urgency

    slowest_median, slowest_raw, which = 0.0, 0.0, ""
    for case in cases:
        times, _ = timed(case.subject, case.text, 5)
        if statistics.median(times) > slowest_median:
            slowest_median, which = statistics.median(times), case.id
        slowest_raw = max(slowest_raw, max(times))
    print(f"slowest case: {slowest_median * 1000:.2f} ms median of 5 runs ({which}); "
          f"slowest single run {slowest_raw * 1000:.2f} ms")
    print("1 MB mails (10 runs each; limit 50 ms):")
    big_median = big_raw = 0.0
    for name, (subject, text, expected) in one_mb_mails(cases).items():
        times, urgency = timed(subject, text, 10)
        big_median = max(big_median, statistics.median(times))
        big_raw = max(big_raw, max(times))
        check = "" if expected is None else (
            "  ok" if urgency == expected else f"  WRONG: expected {expected}")
        print(f"  {name:<30} median {statistics.median(times) * 1000:6.2f} ms   "
              f"max {max(times) * 1000:6.2f} ms   -> {urgency}{check}")
    print(f"slowest single mail: {max(big_median, slowest_median) * 1000:.2f} ms (median of "
          f"runs), {max(big_raw, slowest_raw) * 1000:.2f} ms (any single run); CPU time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per speed run")
    parser.add_argument("--errors", choices=PARTS, action="append", default=[],
                        help="list the misclassified cases of this part with their reasons")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true",
                        help="only the speed part (on all labelled cases)")
    parser.add_argument("--writers", action="store_true",
                        help="only the writers' sets of tests/triage/writers/")
    parser.add_argument("--measure", type=Path, action="append", default=[],
                        help="measure a writer's JSON-lines file (before tuning on it)")
    parser.add_argument("--train", action="store_true",
                        help="train the character model on every labelled set and save it "
                             "into the package")
    parser.add_argument("--skip", type=int, default=0,
                        help="with --measure: leave out the first N mails (already tuned on)")
    parser.add_argument("--show-errors", action="store_true",
                        help="with --writers or --measure: list the misclassified mails")
    args = parser.parse_args()

    rules = read_rules(HERE.parent / "config" / "rules.yaml")
    if args.train:
        cases = [c for cs in load_writers().values() for c in cs]
        cases += [c for part in PARTS for c in load(part)]
        model = train(_triples(cases))
        save_model(model)
        print(f"model: {len(model.weights):,} 4-grams from {len(cases)} mails -> {MODEL_PATH}")
        return
    if args.measure:
        for path in args.measure:
            cases = read_cases(path, path.parent.name)[args.skip:]
            writer_figures(f"{path} from mail {args.skip + 1}", cases, rules, args.show_errors)
        return
    if args.speed_only:
        speed([c for part in PARTS for c in load(part)], args.seconds)
        return
    if args.writers:
        writers(rules, args.show_errors)
        precision_cost(rules)
        return
    everything: list[Case] = []
    union, union_languages = Scores(), {}
    for part in PARTS:
        cases = load(part)
        everything += cases
        overall, by_language, wrong = score(
            cases, lambda c: classify(rules, c.subject, c.text).urgency)
        quality(part, overall, by_language)
        for truth in CLASSES:
            for predicted in CLASSES:
                union.confusion[truth][predicted] += overall.confusion[truth][predicted]
        union.n += overall.n
        for language, s in by_language.items():
            u = union_languages.setdefault(language, Scores())
            u.n += s.n
            for truth in CLASSES:
                for predicted in CLASSES:
                    u.confusion[truth][predicted] += s.confusion[truth][predicted]
        if part in args.errors:
            for case, predicted in wrong:
                result = classify(rules, case.subject, case.text)
                print(f"\n  {case.id}: {case.label} -> {predicted}  ({case.note})")
                print(f"    subject: {case.subject!r}")
                print(f"    text: {case.text[:200]!r}")
                for reason in result.reasons:
                    print(f"      - {reason}")
    quality("dev + holdout", union, union_languages)
    writers(rules, False)
    precision_cost(rules)
    if not args.no_speed:
        speed(everything, args.seconds)


if __name__ == "__main__":
    main()
