"""Measure autograde at class scale: N students x every lab in one `autograde` run (not a test).

    python -m grader.tests.nbgrader_cases.scale --students 30 --jobs 2 [--out /tmp/phase11-scale]

Builds and releases a fresh course folder, generates the submissions (a third each: the
reference, a mutant, the untouched stub), autogrades them all in one run and prints the wall
time. Run it once with --jobs 1 and once with --jobs 2 to compare.

Measured 2026-12-06 on the 2-core course machine, idle, every module judged first and every
kernel jailed (grader/judge/kernel_jail.py):
  --jobs 2: 133 s for 6 x 4 = 24 submissions (5.5 s per submission overall).
Measured 2026-11-23, before the kernel jail, idle, one torch thread per kernel:
  --jobs 2: 481 s for 30 x 4 = 120 submissions (mean per submission: lab01 10.6 s, lab02 5.6 s,
            lab03 6.2 s, lab04 7.4 s; each includes a kernel start and one in-process pytest run
            per graded test).
Earlier, before kernels were held to one thread and with the machine shared (read as rough):
  --jobs 1: 1765 s (load average ~3);  --jobs 2: 942 s (load average 5-12).
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from grader.classroom import nbgrader_course as nbc
from grader.tests.nbgrader_cases import submissions as S


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/phase11-scale"))
    args = ap.parse_args(argv)

    out = args.out / f"jobs{args.jobs}"
    if out.exists():
        shutil.rmtree(out)
    course, subs = out / "course", out / "submissions"
    chosen = nbc.release(course)
    modules = {}
    for lab in chosen:
        mutant = S.first_mutant(lab)
        modules[lab.name] = [S.reference_modules(lab),
                             S.mutant_modules(lab, mutant) if mutant else S.reference_modules(lab),
                             None]                                   # None: the stub as released
    for k in range(args.students):
        for lab in chosen:
            S.make(course / "release", subs, f"student{k:02d}", lab, modules[lab.name][k % 3])

    t0 = time.monotonic()
    outcomes = nbc.autograde(subs, course, jobs=args.jobs)
    wall = time.monotonic() - t0
    per_lab = {}
    for o in outcomes:
        per_lab.setdefault(o.lab, []).append(o.seconds)
    print(f"\nSCALE {args.students} students x {len(chosen)} labs = {len(outcomes)} submissions, "
          f"--jobs {args.jobs}: {wall:.0f} s wall")
    for lab, secs in per_lab.items():
        print(f"  {lab:<28} mean {sum(secs) / len(secs):5.1f} s per submission (max {max(secs):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
