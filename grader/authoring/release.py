"""python -m grader.authoring.release DEST — build the student release (default dist/student/).

The release is the repository as a student gets it: committed files only, without
solutions/, hidden tests, mutants, the course's own tests and the instructor tools, with
notebooks stripped of solution regions and hidden tests, and with a fresh git history of one
commit (so ``make reset`` can find each stub as it was handed out).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from grader.labs import ROOT

# Path prefixes (relative to the repo root) that never reach students.
EXCLUDE = (
    "solutions/",
    "grader/hidden/",
    "grader/tests/",
    "grader/mutants/",
    "grader/authoring/stubs.py",
    "grader/authoring/release.py",
    "grader/authoring/nbcells.py",
    "grader/classroom/",
    "grader/INSTRUCTORS.md",
    "grader/CONTRACT.md",
    ".ci/",
)
# Build debris that must never ship, even if someone committed it by mistake.
DEBRIS = ("__pycache__", ".pyc", ".so", "/build/", "/dist/", ".egg-info", ".ipynb_checkpoints")

NOTE = ("> **Student release.** This copy has no `solutions/` and no hidden tests: `make grade` runs the "
        "public tests only, and says so. Your instructor grades with the hidden tests too.\n\n")


def release_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [f for f in out.decode().split("\0") if f]
    return [f for f in files if not f.startswith(EXCLUDE) and not any(d in "/" + f for d in DEBRIS)
            and (ROOT / f).is_file()]


# What a cleared solution region becomes. nbgrader's default, `raise NotImplementedError()`, would
# stop "Run all" at the first ungraded exercise; a statement that does nothing lets the cell's own
# `if ... is None:` print "your turn" and the notebook go on (valid at top level and in a body).
CODE_STUB = {"python": "pass  # YOUR CODE HERE"}


def strip_notebook(src: Path, dest: Path) -> None:
    """Remove solution regions and hidden tests with nbgrader's own preprocessors."""
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    nb = nbformat.read(src, as_version=4)
    # A hidden test's graded cell would be left as an empty shell naming the test: drop it whole.
    nb.cells = [c for c in nb.cells if "### BEGIN HIDDEN TESTS" not in c.source]
    for pre in (ClearSolutions(code_stub=CODE_STUB), ClearHiddenTests(), ClearOutput()):
        nb, _ = pre.preprocess(nb, {})
    nbformat.write(nb, dest)


def build(dest: Path) -> list[str]:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    files = release_files()
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ipynb"):
            strip_notebook(ROOT / rel, target)
        else:
            shutil.copy2(ROOT / rel, target)
    times = dest / "grader" / "time_limits.json"
    if times.exists():
        # the student copy has no hidden tests: their names stay out of it too
        from grader.grading import catalog
        from grader.labs import LABS

        public = {lab.name: {it.name for it in catalog.discover(lab, ("public",))} for lab in LABS}
        record = json.loads(times.read_text())
        times.write_text(json.dumps({lab: {t: v for t, v in tests.items() if t in public.get(lab, ())}
                                     for lab, tests in record.items()}, indent=1, sort_keys=True) + "\n")
    readme = dest / "README.md"
    if readme.exists():
        # The maintainers' paragraph points at files students do not get.
        text = re.sub(r"<!-- maintainers -->.*?<!-- /maintainers -->\n?", "", readme.read_text(), flags=re.S)
        # ... and so does the suite's line at the top (the student copy has no suite to run)
        text = re.sub(r"^make test .*\n", "", text, flags=re.M)
        readme.write_text(NOTE + text)
    git = ["git", "-c", "user.name=Phase 11 course", "-c", "user.email=course@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Phase 11 student release"], cwd=dest, check=True)
    return files


def main(argv: list[str]) -> int:
    dest = Path(argv[0] if argv else "dist/student")
    dest = dest if dest.is_absolute() else ROOT / dest
    files = build(dest)
    print(f"student release: {len(files)} files in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
