"""python -m grader [--impl labs|solutions|DIR] [--lab NAME] [--json FILE] [--strict] [--verbose]

Grades each lab in its own watched process and prints a score table. Exit status: 0 when
grading completed (whatever the score), 1 with --strict when any lab is below full marks,
2 when it could not grade (unknown lab, missing implementation directory, broken test files).
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader import labs
from grader.grading import catalog
from grader.grading.report import table
from grader.grading.run import grade_lab


def resolve_impl(arg: str) -> Path:
    if arg in ("labs", "solutions"):
        return labs.ROOT / arg
    return Path(arg).expanduser().resolve()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n")[0])
    ap.add_argument("--impl", default="labs", help="labs (default), solutions, or a directory with the same layout")
    ap.add_argument("--lab", help="grade one lab (package name or short name such as lab01)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--strict", action="store_true", help="exit 1 unless every lab is at full marks")
    ap.add_argument("--verbose", "-v", action="store_true", help="full pytest output for failing public tests")
    ap.add_argument("--jobs", type=int, default=2, help="labs graded at once (default 2)")
    args = ap.parse_args(argv)

    impl = resolve_impl(args.impl)
    if not impl.is_dir():
        print(f"grader: implementation directory {impl} does not exist", file=sys.stderr)
        return 2
    try:
        chosen = [labs.get(args.lab)] if args.lab else labs.present()
    except KeyError as e:
        print(f"grader: {e.args[0]}", file=sys.stderr)
        return 2
    if not chosen:
        print("grader: no labs found (labs/<lab>/tests/ is missing)", file=sys.stderr)
        return 2

    def grade(lab: labs.Lab):
        return lab.name, grade_lab(lab, impl)

    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            summaries = dict(pool.map(grade, chosen))
    except catalog.CatalogError as e:
        print(f"grader: cannot read the tests: {e}", file=sys.stderr)
        return 2

    print(table(impl, summaries, verbose=args.verbose))
    report = {
        "impl": str(impl),
        "labs": summaries,
        "total": {"score": sum(s["score"] for s in summaries.values()),
                  "max_score": sum(s["max_score"] for s in summaries.values())},
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.strict and any(s["score"] < s["max_score"] for s in summaries.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
