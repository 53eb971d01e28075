"""python -m grader.judge.cell --lab LAB --impl DIR — grade one lab, print its summary as JSON.

What a notebook's ``check()`` runs (grader/nbcheck.py), so the tests, public and hidden, run in
a judge process of their own and never in the notebook's kernel: the kernel gets only this
summary (pass or fail per test; full feedback for public tests; a hint for hidden ones).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader import labs
from grader.grading.run import grade_lab


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader.judge.cell")
    ap.add_argument("--lab", required=True)
    ap.add_argument("--impl", required=True, type=Path)
    args = ap.parse_args(argv)
    lab = labs.get(args.lab)
    summary = grade_lab(lab, args.impl.resolve())
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
