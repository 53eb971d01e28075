"""Per-test time limits sized to what each test needs: the reference's own time, recorded.

    python -m grader.grading.time_limits --write    maintainers (`make stubs`): grade solutions/ and record
                                            each graded test's time inside the sandbox (a time
                                            within 2x of its record keeps the record)
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


def merge(old: dict, new: dict) -> dict:
    """The new record, except that a test keeps its old time where the new one is within a factor
    of 2 of it, or both are under the floor: timings wobble from run to run, and a record rewritten
    by every `make stubs` would make noise in every commit without changing a limit that matters."""
    floor = FLOOR_S / FACTOR
    out = {}
    for lab, times in new.items():
        before = old.get(lab, {})
        out[lab] = {}
        for name, s in times.items():
            was = before.get(name)
            keep = was is not None and ((was <= floor and s <= floor) or 0.5 <= s / max(was, 1e-9) <= 2)
            out[lab][name] = was if keep else s
    return out


def main(argv: list[str]) -> int:
    if "--write" in argv:
        try:
            old = json.loads(RECORD.read_text())
        except (OSError, ValueError):
            old = {}
        new = merge(old, record())
        if new == old:
            print(f"{RECORD.relative_to(ROOT)}: unchanged (every time within 2x of its record)")
            return 0
        RECORD.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")
        return 0
    for lab in LABS:
        lim = limits(lab)
        print(f"{lab.name}: {len(lim)} tests, limits {min(lim.values(), default=0):g}-{max(lim.values(), default=0):g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
