"""The student release leaks no solution and no hidden test, carries no debris, and grades.

Built once for the module with `make release`; `make grade` then runs inside it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from grader.grading import catalog
from grader.labs import LABS, ROOT
from grader.authoring.stubs import BEGIN, END

DEST = ROOT / "dist" / "student"


@pytest.fixture(scope="module")
def release():
    proc = subprocess.run(["make", "release"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = [p for p in DEST.rglob("*") if p.is_file() and ".git" not in p.relative_to(DEST).parts]
    return {str(p.relative_to(DEST)): p.read_text(errors="replace") for p in files}


def solution_lines(lab) -> set[str]:
    """Distinctive lines of the reference's solution regions (long enough not to be generic)."""
    lines = [ln for p in lab.stub_paths(ROOT / "solutions") for ln in p.read_text().splitlines()]
    out, inside = set(), False
    for ln in lines:
        if BEGIN.match(ln):
            inside = True
        elif END.match(ln):
            inside = False
        elif inside and len(ln.strip()) >= 30 and not ln.strip().startswith("#"):
            out.add(ln.strip())
    return out


def test_release_has_the_student_layout(release):
    for top in ("README.md", "Makefile", "pyproject.toml", "environment.yml", "phase11/README.md"):
        assert top in release, top
    for lab in LABS:
        for file in lab.files():
            assert f"labs/{file}" in release
        assert f"notebooks/{lab.name}.ipynb" in release
    assert not any(f.startswith(("solutions/", "grader/hidden/", "grader/tests/", "grader/mutants/", ".ci/"))
                   for f in release)


def test_no_debris(release):
    bad = [f for f in release if re.search(r"(__pycache__|\.pyc$|\.so$|^build/|^dist/|\.egg-info|"
                                          r"\.ipynb_checkpoints|\.bak-)", f)]
    assert not bad


def test_no_solution_body_reached_the_release(release):
    # A line the course hands out anyway (in any lab's stub) is not a secret, even if a solution repeats it.
    handed_out = {ln.strip() for lab in LABS for p in lab.stub_paths(ROOT / "labs") for ln in p.read_text().splitlines()}
    for lab in LABS:
        secrets = solution_lines(lab) - handed_out
        assert secrets, f"{lab.name}: no solution lines found to check"
        for name, text in release.items():
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{name} contains {lab.name}'s solution: {leaked[:3]}"
        assert not any("BEGIN SOLUTION" in release[f"labs/{file}"] for file in lab.files())


def test_no_hidden_test_reached_the_release(release):
    hidden = {i.name for lab in LABS for i in catalog.discover(lab, ("hidden",))}
    assert hidden
    for name, text in release.items():
        found = [h for h in hidden if re.search(rf"\b{h}\b", text)]
        assert not found, f"{name} names hidden tests {found[:3]}"
        assert "BEGIN HIDDEN TESTS" not in text, name


def test_release_notebooks_have_no_solutions_or_outputs(release):
    for lab in LABS:
        nb = json.loads(release[f"notebooks/{lab.name}.ipynb"])
        for cell in nb["cells"]:
            assert not cell.get("outputs")
            assert "### BEGIN SOLUTION" not in "".join(cell["source"])


def test_make_grade_works_inside_the_release_and_says_public_only(release):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PHASE11_IMPL")}
    proc = subprocess.run(["make", "grade", f"VENV={ROOT / '.venv'}"], cwd=DEST, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Hidden tests are not part of this copy" in proc.stdout
    for lab in LABS:
        assert re.search(rf"^{lab.name}\s+0/\d+\s+—\s+0/\d+", proc.stdout, re.M), proc.stdout
        assert f"next: {lab.name} TODO 1" in proc.stdout


def test_reset_in_the_release_restores_a_stub_and_keeps_a_backup(release):
    """One module of a two-module lab is reset; the other keeps the student's work."""
    lab = next(lab for lab in LABS if len(lab.modules) > 1)
    stub, other = (lab.stub_path(DEST / "labs", m) for m in lab.modules[::-1][:2])
    original, kept = stub.read_text(), other.read_text() + "\n# my other work\n"
    stub.write_text(original + "\n# my work\n")
    other.write_text(kept)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(["make", "reset", f"LAB={lab.short}", f"MODULE={lab.modules[-1]}", f"VENV={ROOT / '.venv'}"],
                          cwd=DEST, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stub.read_text() == original and other.read_text() == kept
    other.write_text(kept.removesuffix("\n# my other work\n"))
    backups = list(stub.parent.glob(f"{stub.name}.bak-*"))
    assert backups and backups[0].read_text().endswith("# my work\n")


def test_release_pages_name_only_what_the_release_has(release):
    """A page in the student copy may mention a course file it lacks only while saying so."""
    have = set(release) | {"/".join(f.split("/")[:i]) for f in release for i in range(1, f.count("/") + 1)}
    bad = []
    for name, text in release.items():
        if not name.endswith(".md"):
            continue
        for para in re.split(r"\n\s*\n", text):
            if "not in the student" in para or "full repository" in para:
                continue
            for m in re.finditer(r"`((?:grader|labs|notebooks|phase11)/[^`\s<*{]*)`", para):
                path = m.group(1).split("::")[0].rstrip("/")
                if path not in have:
                    bad.append(f"{name}: {m.group(1)}")
            if re.search(r"`make test`|^make test ", para, re.M):
                bad.append(f"{name}: make test")
    assert not bad, bad
