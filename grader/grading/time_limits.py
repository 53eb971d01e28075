"""Per-test time limits sized to what each test needs: the reference's own time, recorded.

    python -m grader.grading.time_limits --write    maintainers (`make stubs`): grade solutions/ and record
                                            each graded test's time inside the sandbox
    python -m grader.grading.time_limits            print the limits the judge will use

A test's limit is ``FACTOR`` times the reference's recorded time, at least ``FLOOR_S``, at most
its lab's ``timeout_s``; a test with no record gets ``timeout_s``. An endless loop then costs
seconds, not half a minute, while honest code keeps a wide margin on a busy machine (the
reference's slowest test here takes about a second).
"""
from __future__ import annotations

import json
import sys

from grader.labs import LABS, ROOT, Lab

RECORD = ROOT / "grader" / "time_limits.json"
FACTOR = 30
FLOOR_S = 10.0


def limits(lab: Lab) -> dict[str, float]:
    """{test function name: seconds} for the lab's recorded tests (empty for a lab with no record)."""
    try:
        recorded = json.loads((lab.base / "grader" / "time_limits.json").read_text()).get(lab.name, {})
    except (OSError, ValueError):
        return {}
    return {name: min(float(lab.timeout_s), max(FLOOR_S, FACTOR * float(s))) for name, s in recorded.items()}


def record() -> dict[str, dict[str, float]]:
    from grader.grading.run import grade_lab

    out = {}
    for lab in LABS:
        s = grade_lab(lab, ROOT / "solutions", record_times=True)
        bad = [t["name"] for t in s["tests"] if not t["passed"]]
        if bad:
            raise SystemExit(f"{lab.name}: the reference fails {bad}; fix that before recording times")
        out[lab.name] = {t["name"]: round(t["sandbox_s"], 3) for t in s["tests"]}
    return out


def main(argv: list[str]) -> int:
    if "--write" in argv:
        RECORD.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")
        return 0
    for lab in LABS:
        lim = limits(lab)
        print(f"{lab.name}: {len(lim)} tests, limits {min(lim.values(), default=0):g}-{max(lim.values(), default=0):g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
