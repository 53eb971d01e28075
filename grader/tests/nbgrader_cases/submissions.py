"""Make student submissions from a course's release: ``<out>/<student>/<lab>/`` like a real hand-in.

Each submission is the released folder (notebook + lab package) with the student's module and,
for the misbehaving cases, an edited notebook. Module texts come from the repository: the
reference (``solutions/``), the stub (as released) or a mutant (``grader.mutants``).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import nbformat

from grader import mutants
from grader.authoring import nbcells
from grader.labs import ROOT, Lab

SOLUTIONS = ROOT / "solutions"

# Notebook cells a student might add (before the graded checks).
LOOP_CELL = "# my experiment\nwhile True:\n    pass\n"
IGNORE_SIGINT_CELL = ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "while True:\n    pass\n")
KILL_KERNEL_CELL = "import os\nos._exit(1)\n"
# Grading runs on the instructor's checkout, where the hidden tests are readable: a student can try.
PEEK_CELL = ("import pathlib, grader\n"
             "for f in sorted((pathlib.Path(grader.__file__).parent / 'hidden').rglob('test_*.py')):\n"
             "    print(f.read_text())\n")


def reference_modules(lab: Lab) -> dict[str, str]:
    """The reference's text of each of the lab's student modules."""
    return {m: lab.stub_path(SOLUTIONS, m).read_text() for m in lab.modules}


def first_mutant(lab: Lab) -> mutants.Mutant | None:
    """The first mutant that public tests let through (so hidden tests must catch it)."""
    return next((m for m in mutants.mutants_for(lab) if m.public_passes), None)

# A kernel that tries what a determined student would: its own survivor, the gradebook, a file in
# another submission of the same student, the reference module. ``{course}`` and ``{marker}`` are
# filled in by the test.
TAMPER_CELL = """import os, subprocess, pathlib
subprocess.Popen(["sleep", "31337"], start_new_session=True)
course = pathlib.Path({course!r})
for target in (course / "gradebook.db", course / "submitted" / "tamper" / {marker!r},
               course / "source" / {marker!r}, pathlib.Path("/tmp") / {marker!r}):
    try:
        with open(target, "a") as f:
            f.write("x")
        print("WROTE", target)
    except OSError as e:
        print("refused", target, type(e).__name__)
for secret in [course / "source", pathlib.Path({root!r}) / "solutions", pathlib.Path({root!r}) / "grader" / "hidden"]:
    print("SEES", secret, secret.exists())
"""


def mutant_modules(lab: Lab, mutant: mutants.Mutant) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        impl = mutants.apply(lab, mutant, Path(tmp) / "impl")
        return {m: lab.stub_path(impl, m).read_text() for m in lab.modules}


def make(release: Path, out: Path, student: str, lab: Lab, modules: dict[str, str] | None = None,
         extra_cell: str | None = None, edit=None) -> Path:
    """Copy ``release/<lab>`` to ``out/<student>/<lab>``; set the modules' text, add a cell, edit the notebook."""
    dest = out / student / lab.name
    shutil.copytree(release / lab.name, dest)
    if modules is not None:
        for m, text in modules.items():
            lab.stub_path(dest, m).write_text(text)
        from grader.classroom.nbgrader_course import lab_deps

        for dep in lab_deps(lab):          # a working student copied their own (correct) lab04 in
            for m, text in reference_modules(dep).items():
                dep.stub_path(dest, m).write_text(text)
    nb_path = dest / f"{lab.name}.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    if extra_cell is not None:
        first_graded = next(i for i, c in enumerate(nb.cells) if nbcells.is_generated(c))
        nb.cells.insert(first_graded, nbformat.v4.new_code_cell(extra_cell))
    if edit is not None:
        edit(nb)
    nbformat.write(nb, nb_path)
    return dest


def graded_cells(nb) -> list:
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def edit_locked_public_cell(nb) -> str:
    """A student 'fixes' a public check so it cannot fail; returns the cell's grade_id."""
    cell = next(c for c in graded_cells(nb) if "check(" in c.source)
    cell.source = "pass  # this test annoyed me"
    return cell.metadata["nbgrader"]["grade_id"]


def delete_graded_cell(nb) -> str:
    cell = next(c for c in graded_cells(nb) if "check(" in c.source)
    nb.cells.remove(cell)
    return cell.metadata["nbgrader"]["grade_id"]


def break_notebook(path: Path) -> None:
    path.write_text(path.read_text()[: len(path.read_text()) // 2])     # truncated JSON


