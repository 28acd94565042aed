"""Exact typed-text rates of maildesk.mail.quotes.typed_reply on the reply fixtures.

    .venv/bin/python bench/replies.py              # dev and held-out, by client and language
    .venv/bin/python bench/replies.py --misses     # also show each miss (got / expected)
    .venv/bin/python bench/replies.py --by-folder  # by client and language in each folder
    .venv/bin/python bench/replies.py --measure DIR  # a set from outside: DIR/*.eml + expected.json

The dev part is what the quote finder was tuned on; the held-out part was written before any
result was seen and is never tuned on.  tests/test_reply_fixtures.py asserts >= 95 % on dev.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from replies_corpus import PARTS, load, load_folder, misses, rates_by  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--by-folder", action="store_true",
                        help="client and language rates for each fixture folder too")
    parser.add_argument("--measure", type=Path, metavar="DIR",
                        help="measure only this folder (.eml files and an expected.json)")
    args = parser.parse_args()
    for part in [str(args.measure)] if args.measure else PARTS:
        cases = load_folder(args.measure) if args.measure else load(part)
        missed = misses(cases)
        paths = {case.path for case, _ in missed}
        exact = len(cases) - len(missed)
        print(f"== {part}: {exact}/{len(cases)} exact ({100 * exact / len(cases):.1f} %)")
        for key in ("folder", "client", "language"):
            table = rates_by(cases, paths, key)
            print(f"   by {key}: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in table.items()))
        for folder in sorted({c.folder for c in cases}) if args.by_folder else []:
            inside = [c for c in cases if c.folder == folder]
            for key in ("client", "language"):
                table = rates_by(inside, paths, key)
                print(f"   {folder} by {key}: "
                      + ", ".join(f"{k} {a}/{b}" for k, (a, b) in table.items()))
        for case, got in missed if args.misses else []:
            print(f"-- MISS {case.path.parent.name}/{case.path.name}\n   got:\n{got}\n"
                  f"   expected:\n{case.expected.strip()}\n")


if __name__ == "__main__":
    main()
