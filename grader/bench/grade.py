"""What the sandbox costs: `make grade --impl solutions`, graded three ways, side by side in one run.

    make bench-grade                       # all labs, 2 rounds
    python -m grader.bench.grade --rounds 3

The three ways: ``direct`` (the student's module imported into the test process: how grading
worked before the sandbox, kept here only as the baseline), ``out-of-process`` (the judge and a
separate module process, no bubblewrap) and ``sandboxed`` (what `make grade` does). Each round
grades every lab once per way, the ways interleaved so a busy machine slows them alike; the
table reports each way's best round and its ratio to ``direct``. A measurement, never a test.
"""
from __future__ import annotations

import argparse
import platform
import time

from grader.judge import jail
from grader.labs import LABS, ROOT
from grader.grading.run import grade_lab

WAYS = (("direct", "direct"), ("out-of-process", False), ("sandboxed", True))


def one(way) -> tuple[dict[str, float], int]:
    """Seconds per lab, and the total score, for one grading of every lab in ``way``."""
    seconds, score = {}, 0
    for lab in LABS:
        t0 = time.monotonic()
        score += grade_lab(lab, ROOT / "solutions", sandbox=way)["score"]
        seconds[lab.short] = time.monotonic() - t0
    return seconds, score


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader.bench.grade", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    ways = [w for w in WAYS if w[1] is not True or not jail.bwrap_problem()]
    one(True if len(ways) == 3 else False)              # warm the page cache and the imports
    best: dict[str, dict[str, float]] = {}
    scores: dict[str, int] = {}
    for _ in range(max(1, args.rounds)):
        for name, way in ways:
            seconds, scores[name] = one(way)
            if name not in best or sum(seconds.values()) < sum(best[name].values()):
                best[name] = seconds
    labs = [lab.short for lab in LABS]
    total = {name: sum(best[name].values()) for name, _ in ways}
    print(f"grading solutions/ (all labs, serially), best of {args.rounds} rounds on {platform.node()} "
          f"({platform.machine()}, Python {platform.python_version()})")
    print(f"  {'':<15} {'all labs':>8}   {'ratio':>12}   " + "  ".join(f"{s:>6}" for s in labs) + "   score")
    for name, _ in ways:
        print(f"  {name:<15} {total[name]:6.1f} s   {total[name] / total['direct']:4.2f}x direct   "
              + "  ".join(f"{best[name][s]:5.1f}s" for s in labs) + f"   {scores[name]}")
    if len(ways) < 3:
        print(f"  sandboxed: not measured ({jail.bwrap_problem()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
