"""`make autograde`'s intake: a submission is copied as data, a hostile one is rejected alone,
and grading refuses to start without a sandbox unless the instructor says so.

These run without nbgrader's notebook execution (fast); test_nbgrader_workflow.py runs the same
cases through a whole autograde batch.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from grader import labs
from grader.classroom import nbgrader_course as nbc
from grader.judge import jail
from grader.labs import ROOT

LAB = labs.get("lab02")                 # a lab that borrows another lab's module (lab04)
DEP = labs.get("lab04")                 # ... which has two modules
MODULE = LAB.modules[0]


def _submission(root: Path, student: str, lab=LAB) -> Path:
    d = root / student / lab.name / lab.name
    d.mkdir(parents=True)
    (d / "__init__.py").write_text("")
    for m in lab.modules:
        (d / f"{m}.py").write_text(f"# {student}'s work\n")
    nbformat.write(nbformat.v4.new_notebook(), root / student / lab.name / f"{lab.name}.ipynb")
    return root / student / lab.name


def _intake(tmp_path: Path):
    course = tmp_path / "course"
    (course / "release" / LAB.name).mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), course / "release" / LAB.name / f"{LAB.name}.ipynb")
    return nbc.import_submissions(tmp_path / "subs", course, {LAB.name}), course


def test_links_and_special_files_reject_only_their_submission(tmp_path):
    subs = tmp_path / "subs"
    _submission(subs, "honest")
    linked = _submission(subs, "linked")
    (linked / LAB.name / f"{MODULE}.py").unlink()
    (linked / LAB.name / f"{MODULE}.py").symlink_to(LAB.stub_path(ROOT / "solutions", MODULE))
    os.mkfifo(_submission(subs, "fifo") / "pipe.txt")
    (_submission(subs, "dangling") / "gone.py").symlink_to("/nonexistent")
    (subs / "folderlink").mkdir()
    (subs / "folderlink" / LAB.name).symlink_to(ROOT / "solutions")
    (subs / "studentlink").symlink_to(subs / "honest")
    (outcomes, todo), course = _intake(tmp_path)
    by = {o.student: o for o in outcomes}
    assert [o.student for o in todo] == ["honest"]
    for student, words in (("linked", f"{MODULE}.py is a symbolic link"), ("fifo", "pipe.txt is a FIFO"),
                           ("dangling", "gone.py is a symbolic link"), ("folderlink", "is a symbolic link"),
                           ("studentlink", "is a symbolic link")):
        assert by[student].status == "rejected" and words in by[student].message, (student, by[student].message)
    # nothing of the reference reached the course folder
    ref = LAB.stub_path(ROOT / "solutions", MODULE).read_bytes()
    assert not [p for p in course.rglob("*.py") if p.read_bytes() == ref]


def test_a_borrowed_module_is_read_as_data_too(tmp_path):
    """Each module of the borrowed lab is taken on its own: the student's real file is used, the
    linked one is refused (the stub stands in) and never followed."""
    subs = tmp_path / "subs"
    _submission(subs, "s")
    dep = subs / "s" / DEP.name / DEP.name
    dep.mkdir(parents=True)
    first, second = DEP.modules[:2]
    (dep / f"{first}.py").write_text("# my own part 1\n")
    (dep / f"{second}.py").symlink_to(DEP.stub_path(ROOT / "solutions", second))
    (outcomes, todo), course = _intake(tmp_path)
    o = next(o for o in outcomes if o.student == "s")
    into = course / "submitted" / "s" / LAB.name
    assert DEP.stub_path(into, first).read_text() == "# my own part 1\n"
    assert DEP.stub_path(into, second).read_bytes() == DEP.stub_path(ROOT / "labs", second).read_bytes()
    assert f"{DEP.name}/{first}.py taken from the student's {DEP.short} submission" in o.notes, o.notes
    assert any(n.startswith(f"{DEP.name}/{second}.py is the stub") and "symbolic link" in n for n in o.notes), o.notes


def test_autograde_refuses_to_run_without_a_sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr(jail, "bwrap_problem", lambda: "bwrap is not installed (a test says so)")
    (tmp_path / "subs").mkdir()
    with pytest.raises(nbc.NoSandbox, match="refusing to grade.*--allow-unsandboxed"):
        nbc.autograde(tmp_path / "subs", tmp_path / "course")
    assert not (tmp_path / "course").exists()            # it stopped before touching anything
    assert nbc.main(["autograde", "--submissions", str(tmp_path / "subs"),
                     "--course", str(tmp_path / "course")]) == 1
