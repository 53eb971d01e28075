"""Every walkthrough notebook runs top to bottom in a real Jupyter kernel, against the reference.

Committed notebooks carry no outputs and start with the same setup cell.
"""
from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

from grader.labs import LABS, ROOT

SETUP = '''# Course setup: find the course root, then load YOUR module from labs/ (or $PHASE11_IMPL).
import sys, pathlib
_here = pathlib.Path.cwd().resolve()
sys.path[:0] = [str(p) for p in (_here, *_here.parents) if (p / "grader" / "notebook.py").is_file()][:1]
from grader.notebook import use_lab
'''
NOTEBOOKS = [lab for lab in LABS if lab.notebook.exists()]


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.short)
def test_notebook_is_committed_without_outputs(lab):
    nb = json.loads(lab.notebook.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{lab.notebook.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("lab", NOTEBOOKS, ids=lambda lab: lab.short)
def test_notebook_starts_with_the_course_setup_cell(lab):
    nb = nbformat.read(lab.notebook, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source.startswith(SETUP)
    assert f'use_lab("{lab.name}")' in first.source


@pytest.mark.parametrize("lab", NOTEBOOKS, ids=lambda lab: lab.short)
def test_notebook_runs_against_the_reference(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("PHASE11_IMPL", str(ROOT / "solutions"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = nbformat.read(lab.notebook, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 1, f"{lab.notebook.name} drew no figure"


@pytest.mark.parametrize("lab", NOTEBOOKS, ids=lambda lab: lab.short)
def test_student_copy_runs_all_with_the_exercises_undone(lab, tmp_path, monkeypatch):
    """A student who has finished the lab but not the ungraded "your turn" cells can Run all."""
    from grader.authoring.release import strip_notebook
    monkeypatch.setenv("PHASE11_IMPL", str(ROOT / "solutions"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    stripped = tmp_path / lab.notebook.name
    strip_notebook(lab.notebook, stripped)
    nb = nbformat.read(stripped, as_version=4)
    cleared = [c for c in nb.cells if c.cell_type == "code" and "YOUR CODE HERE" in c.source]
    assert cleared, f"{lab.notebook.name}: no exercise cell found in the student copy"
    # no graded checks here: the judge's runs are covered above; this is about the walkthrough
    nb.cells = [c for c in nb.cells if "check(" not in c.source]
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()
    said = "".join(o.get("text", "") for c in cleared for o in c.get("outputs", []))
    assert said.count("your turn") == len(cleared), f"each undone exercise says so: {said!r}"
