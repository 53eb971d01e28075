"""Fingerprints of the public test files, so the grader can tell when a student edited them.

    python -m grader.authoring.manifest --write    maintainers: record the current public tests
    python -m grader.authoring.manifest --check    exit 1 if the record is stale
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from grader.grading import catalog
from grader.labs import LABS, ROOT, Lab

MANIFEST = ROOT / "grader" / "public_tests.json"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compute() -> dict[str, str]:
    out = {}
    for lab in LABS:
        for f in catalog.test_files(lab.public_tests):
            out[str(f.relative_to(ROOT))] = _digest(f)
    return out


def edited(lab: Lab) -> list[str]:
    """Public test files of ``lab`` that differ from the record (changed, added or removed)."""
    record = lab.base / MANIFEST.relative_to(ROOT)
    if not record.exists():
        return []
    recorded = {k: v for k, v in json.loads(record.read_text()).items()
                if k.startswith(f"labs/{lab.name}/")}
    now = {str(f.relative_to(lab.base)): _digest(f) for f in catalog.test_files(lab.public_tests)}
    changed = [p for p in recorded if now.get(p) != recorded[p]]
    added = [p for p in now if p not in recorded]
    return sorted(changed + added)


def main(argv: list[str]) -> int:
    if "--write" in argv:
        MANIFEST.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST.relative_to(ROOT)}")
        return 0
    stale = json.loads(MANIFEST.read_text()) != compute() if MANIFEST.exists() else True
    print("public test manifest is stale: run `python -m grader.authoring.manifest --write`" if stale else "manifest ok")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
