"""The instructor's nbgrader workflow, end to end, on generated submissions (grader/INSTRUCTORS.md).

One course is built and released for the whole module, and ONE autograde batch (``--jobs 2``)
grades every submission below, as an instructor's `make autograde` would:

* for every lab: the reference solution, the untouched stub, and a plausible wrong answer
  (the first mutant in grader/mutants/<lab>.py that the public tests let through);
* for one quick lab: a notebook cell that loops forever, one that ignores SIGINT while looping,
  one that kills its kernel, an edited locked check cell, a deleted graded cell, a missing
  notebook and a malformed one.

Scores are compared with `python -m grader --impl DIR --lab LAB --json F` on the same code, test
by test. No wall-clock assertions: the per-cell limit is proven by the outcome, not a stopwatch.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader import labs
from grader.authoring import nbcells
from grader.grading import catalog
from grader.classroom import nbgrader_course as nbc
from grader.labs import ROOT, Lab
from grader.tests.nbgrader_cases import submissions as S

TAMPER_MARK = "p11-tamper-marker"
CELL_TIMEOUT = 10                    # walkthrough cells; check cells get their lab's limit + a margin
ROBUST_PREFERENCE = ("lab03", "lab04", "lab01", "lab02")     # quickest labs first
GRADED_BY_GRADER = ("ref", "stub", "mutant")


@dataclass
class Batch:
    course: Path
    subs: Path
    labs: list[Lab]
    robust: Lab
    outcomes: dict[tuple[str, str], nbc.Outcome]
    grader: dict[tuple[str, str], dict]          # python -m grader's JSON summary for the same code


def _items(lab: Lab) -> list[catalog.TestItem]:
    return catalog.discover(lab, ("public", "hidden") if lab.hidden_tests.is_dir() else ("public",))


def _grade_with_grader(impl: Path, lab: Lab, out: Path) -> dict:
    cmd = [sys.executable, "-m", "grader", "--impl", str(impl), "--lab", lab.name, "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())["labs"][lab.name]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    root = tmp_path_factory.mktemp("nbgrader")
    course = root / "course"
    chosen = nbc.release(course, cell_timeout=CELL_TIMEOUT)
    rel, subs = course / "release", root / "submissions"
    mutants = {}
    for lab in chosen:
        S.make(rel, subs, "ref", lab, S.reference_modules(lab))
        S.make(rel, subs, "stub", lab)
        mutant = S.first_mutant(lab)
        if mutant is not None:
            mutants[lab.name] = S.mutant_modules(lab, mutant)
            S.make(rel, subs, "mutant", lab, mutants[lab.name])
    robust = next(lab for short in ROBUST_PREFERENCE for lab in chosen if lab.short == short)
    wrong = mutants.get(robust.name, S.reference_modules(robust))
    S.make(rel, subs, "loop", robust, wrong, extra_cell=S.LOOP_CELL)
    S.make(rel, subs, "sigint", robust, S.reference_modules(robust), extra_cell=S.IGNORE_SIGINT_CELL)
    S.make(rel, subs, "kill", robust, S.reference_modules(robust), extra_cell=S.KILL_KERNEL_CELL)
    S.make(rel, subs, "edited", robust, edit=S.edit_locked_public_cell)          # the stub, "passing"
    S.make(rel, subs, "peek", robust, S.reference_modules(robust), extra_cell=S.PEEK_CELL)
    S.make(rel, subs, "deleted", robust, S.reference_modules(robust), edit=S.delete_graded_cell)
    S.break_notebook(S.make(rel, subs, "malformed", robust) / f"{robust.name}.ipynb")
    missing = S.make(rel, subs, "missing", robust)
    (missing / f"{robust.name}.ipynb").rename(missing / "Untitled.ipynb")
    # submissions that try the grader around the sandbox (issue 1, part 2)
    evil = S.make(rel, subs, "linked", robust)
    linked = robust.stub_path(evil, robust.modules[0])
    linked.unlink()
    linked.symlink_to(f"/proc/self/cwd/solutions/{robust.name}/{linked.name}")
    (S.make(rel, subs, "dangling", robust) / "notes.txt").symlink_to("/nonexistent/notes.txt")
    S.make(rel, subs, "tamper", robust, extra_cell=S.TAMPER_CELL.format(course=str(course), marker=TAMPER_MARK,
                                                                       root=str(ROOT)))

    outcomes = {(o.student, o.lab): o for o in nbc.autograde(subs, course, jobs=2)}

    # The grader on exactly the code nbgrader graded (the imported copy, dependencies filled in).
    imported = course / "submitted"
    jobs = [(student, lab) for lab in chosen for student in GRADED_BY_GRADER if (subs / student / lab.name).is_dir()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda j: _grade_with_grader(imported / j[0] / j[1].name, j[1],
                                                        root / f"grader-{j[0]}-{j[1].name}.json"), jobs)
        grader = {(s, lab.name): r for (s, lab), r in zip(jobs, results)}
    return Batch(course, subs, chosen, robust, outcomes, grader)


def cell_scores(b: Batch, student: str, lab: Lab) -> dict[str, float]:
    """grade_id -> auto score, from the gradebook."""
    from nbgrader.api import Gradebook

    db = nbc.load_config(b.course).CourseDirectory.db_url
    with Gradebook(db, nbc.COURSE_ID) as gb:
        nb = gb.find_submission_notebook(lab.name, lab.name, student)
        return {g.name: float(g.auto_score or 0) for g in nb.grades}


def autograded_nb(b: Batch, student: str, lab: Lab):
    return nbformat.read(b.course / "autograded" / student / lab.name / f"{lab.name}.ipynb", as_version=4)


# --- the course folder and the release ----------------------------------------------------

def test_every_lab_is_released_without_solutions_or_hidden_tests(batch):
    assert batch.labs, "no lab was built"
    for lab in batch.labs:
        assert nbc.check_release(batch.course, lab) == []
        text = (batch.course / "release" / lab.name / f"{lab.name}.ipynb").read_text()
        for it in _items(lab):
            assert (f'check(\\"{lab.name}\\", \\"{it.name}\\")' in text) == (it.kind == "public"), it.name


def test_points_come_from_the_catalog_in_notebook_and_gradebook(batch):
    from nbgrader.api import Gradebook

    with Gradebook(nbc.load_config(batch.course).CourseDirectory.db_url, nbc.COURSE_ID) as gb:
        for lab in batch.labs:
            nb = nbformat.read(batch.course / "source" / lab.name / f"{lab.name}.ipynb", as_version=4)
            points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
                      for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                      and nbcells.is_generated(c)}
            assert points == {nbcells.grade_id(it): it.points for it in _items(lab)}
            assert gb.find_assignment(lab.name).max_score == sum(points.values())


def test_config_has_absolute_gradebook_kernel_timeout_path_and_keeps_student_modules(batch):
    cfg = nbc.load_config(batch.course)
    assert cfg.CourseDirectory.db_url == f"sqlite:///{batch.course}/gradebook.db"
    assert cfg.Execute.kernel_name == nbc.JAILED_KERNEL and cfg.Execute.timeout == CELL_TIMEOUT
    assert cfg.KernelManager.transport == "ipc"                 # the jailed kernel has no network
    spec = json.loads((batch.course / "kernels" / nbc.JAILED_KERNEL / "kernel.json").read_text())
    assert spec["argv"][1:] == ["-m", "grader.judge.kernel_jail", "{connection_file}"]
    assert cfg.Autograde.exclude_overwriting == {lab.name: nbc.student_modules(lab) for lab in batch.labs}
    for lab in batch.labs:
        assert nbc.student_modules(lab)[:len(lab.modules)] == lab.files()
    text = (batch.course / "nbgrader_config.py").read_text()
    assert "GENERATED" in text and f"ROOT = {str(ROOT)!r}" in text and "PYTHONPATH" in text


# --- scores -----------------------------------------------------------------------------------

def test_reference_solution_gets_full_marks_in_every_lab(batch):
    for lab in batch.labs:
        o = batch.outcomes[("ref", lab.name)]
        assert o.status == "graded", o.message
        assert o.score == o.max_score == sum(it.points for it in _items(lab)), lab.name


def test_untouched_stub_scores_zero_without_errors(batch):
    for lab in batch.labs:
        o = batch.outcomes[("stub", lab.name)]
        assert (o.status, o.score, o.max_score) == ("graded", 0, sum(it.points for it in _items(lab))), o.message


def test_a_lab_that_builds_on_another_gets_the_students_own_module(batch):
    for lab in batch.labs:
        for dep in nbc.lab_deps(lab):
            for m, file in zip(dep.modules, dep.files()):
                if dep in batch.labs:   # the stub student left the dependency as released: take theirs
                    assert f"{file} taken from the student's {dep.short} submission" \
                        in batch.outcomes[("stub", lab.name)].notes
                ref = dep.stub_path(batch.course / "submitted" / "ref" / lab.name, m)
                assert ref.read_text() == S.reference_modules(dep)[m]


def test_plausible_wrong_answer_passes_public_fails_hidden(batch):
    graded = [lab for lab in batch.labs if ("mutant", lab.name) in batch.outcomes]
    assert graded, "no lab has a mutant that the public tests let through"
    for lab in graded:
        o = batch.outcomes[("mutant", lab.name)]
        assert o.status == "graded" and o.score < o.max_score, (lab.name, o)
        scores = cell_scores(batch, "mutant", lab)
        for it in _items(lab):
            if it.kind == "public":
                assert scores[nbcells.grade_id(it)] == it.points, f"{lab.name}: public {it.name} failed"
        if lab.hidden_tests.is_dir():
            assert any(scores[nbcells.grade_id(it)] == 0 for it in _items(lab) if it.kind == "hidden")


def test_nbgrader_score_equals_grader_score_test_by_test(batch):
    for (student, lab_name), summary in batch.grader.items():
        lab = labs.get(lab_name)
        o = batch.outcomes[(student, lab_name)]
        assert (o.score, o.max_score) == (summary["score"], summary["max_score"]), (student, lab_name)
        scores = cell_scores(batch, student, lab)
        by_grader = {t["name"]: t["passed"] for t in summary["tests"]}
        by_nbgrader = {it.name: scores[nbcells.grade_id(it)] == it.points for it in _items(lab)}
        assert by_nbgrader == by_grader, (student, lab_name)


# --- misbehaving submissions --------------------------------------------------------------------

def test_endless_loop_is_interrupted_per_cell_and_scores_what_it_earned(batch):
    lab = batch.robust
    o = batch.outcomes[("loop", lab.name)]
    assert o.status == "graded", o.message
    same_code = batch.outcomes.get(("mutant", lab.name), batch.outcomes[("ref", lab.name)])
    assert o.score == same_code.score
    looped = next(c for c in autograded_nb(batch, "loop", lab).cells if c.source == S.LOOP_CELL)
    assert any(out.get("output_type") == "error" for out in looped.outputs)


@pytest.mark.parametrize("student, words", [("sigint", "did not respond to the interrupt"),
                                            ("kill", "kernel died")])
def test_kernel_that_ignores_sigint_or_dies_is_reported_and_nothing_is_lost(batch, student, words):
    lab = batch.robust
    o = batch.outcomes[(student, lab.name)]
    assert o.status == "failed" and words in o.message, o
    assert (batch.course / "submitted" / student / lab.name / f"{lab.name}.ipynb").is_file()
    report = list(csv_rows(batch.course / "autograde_report.csv"))
    assert [r["status"] for r in report if (r["student"], r["lab"]) == (student, lab.name)] == ["failed"]
    # the rest of the batch was graded
    assert batch.outcomes[("ref", lab.name)].status == "graded"
    assert batch.outcomes[("loop", lab.name)].status == "graded"


def csv_rows(path: Path):
    import csv

    with path.open() as fh:
        yield from csv.DictReader(fh)


def test_edited_locked_check_cell_is_restored(batch):
    lab = batch.robust
    o = batch.outcomes[("edited", lab.name)]
    assert o.status == "graded" and o.score == 0          # the stub: the "pass" edit earned nothing
    assert any("was edited" in n for n in o.notes)
    source = nbformat.read(batch.course / "source" / lab.name / f"{lab.name}.ipynb", as_version=4)
    restored = {c.metadata["nbgrader"]["grade_id"]: c.source for c in autograded_nb(batch, "edited", lab).cells
                if c.metadata.get("nbgrader", {}).get("grade")}
    for c in source.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            assert restored[c.metadata["nbgrader"]["grade_id"]] == c.source


def test_deleted_graded_cell_is_put_back_flagged_and_run(batch):
    lab = batch.robust
    o = batch.outcomes[("deleted", lab.name)]
    assert o.status == "graded" and o.score == o.max_score, o
    assert any("was deleted" in n for n in o.notes)
    flagged = [c for c in autograded_nb(batch, "deleted", lab).cells if "was missing from the submission" in c.source]
    assert len(flagged) == 1 and "check(" in flagged[0].source


@pytest.mark.parametrize("student, words", [("missing", "missing notebook"), ("malformed", "malformed notebook")])
def test_missing_or_malformed_notebook_gets_a_clear_message(batch, student, words):
    lab = batch.robust
    o = batch.outcomes[(student, lab.name)]
    assert o.status == "rejected"
    assert f"student {student}" in o.message and words in o.message and f"{lab.name}.ipynb" in o.message
    assert batch.outcomes[("ref", lab.name)].status == "graded"


# --- feedback and grades ------------------------------------------------------------------------

def _grade_cell_blocks(html: str) -> dict[str, str]:
    """grade_id -> the feedback HTML of that graded cell (up to the next graded cell)."""
    parts = re.split(r"<a name=\"(\w+)\"></a>", html)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_feedback_for_failing_hidden_tests_shows_hints_only(batch):
    checked = 0
    for lab in batch.labs:
        if ("mutant", lab.name) not in batch.outcomes or not lab.hidden_tests.is_dir():
            continue
        html = (batch.course / "feedback" / "mutant" / lab.name / f"{lab.name}.html").read_text()
        assert "BEGIN HIDDEN" not in html and "END HIDDEN" not in html
        blocks = _grade_cell_blocks(html)
        scores = cell_scores(batch, "mutant", lab)
        for it in _items(lab):
            if it.kind != "hidden":
                continue
            block = blocks[nbcells.grade_id(it)]
            assert not re.search(rf"check\(.{{0,80}}{it.name}", block), it.name
            for marker in ("nbcheck", "most recent call last", "Cell In[", "File ", "assert "):
                assert marker not in block, (lab.name, it.name, marker)
            if scores[nbcells.grade_id(it)] == 0:
                checked += 1
                assert f"hidden test {it.name} failed — hint: " in block
        assert nbc.feedback_leaks(batch.course, lab, "mutant") == []
    assert checked, "no failing hidden test was seen in any feedback"


def test_a_notebook_cannot_read_the_hidden_tests(batch):
    """The kernel is jailed: the course's hidden tests are not there to print (nothing to withhold)."""
    lab = batch.robust
    o = batch.outcomes[("peek", lab.name)]
    assert o.status == "graded" and o.score == o.max_score
    assert nbc.feedback_leaks(batch.course, lab, "peek") == []
    peeked = next(c for c in autograded_nb(batch, "peek", lab).cells if c.source == S.PEEK_CELL)
    assert "def test" not in json.dumps(peeked.outputs)
    assert (batch.course / "feedback" / "peek" / lab.name / f"{lab.name}.html").is_file()


def test_linked_or_special_files_reject_that_submission_only(batch):
    lab = batch.robust
    for student, name in (("linked", f"{lab.modules[0]}.py"), ("dangling", "notes.txt")):
        o = batch.outcomes[(student, lab.name)]
        assert o.status == "rejected" and f"{name} is a symbolic link" in o.message, o
        assert not (batch.course / "feedback" / student / lab.name).exists()
    assert batch.outcomes[("ref", lab.name)].status == "graded"


def test_a_notebook_kernel_cannot_write_outside_or_outlive_autograde(batch):
    lab = batch.robust
    o = batch.outcomes[("tamper", lab.name)]
    assert o.status == "graded" and o.score == 0, o          # the stub, whatever the kernel did
    assert not list(batch.course.rglob(TAMPER_MARK)) and not (Path("/tmp") / TAMPER_MARK).exists()
    cell = next(c for c in autograded_nb(batch, "tamper", lab).cells if "31337" in c.source)
    text = json.dumps(cell.outputs)
    assert "WROTE" not in text.replace(f"WROTE /tmp/{TAMPER_MARK}", "")      # its private /tmp only
    assert "SEES" in text and " True" not in text             # no course folder, solutions or hidden tests
    survivors = [p for p in Path("/proc").iterdir() if p.name.isdigit() and "31337" in _cmdline(p)]
    assert survivors == []
    rows = [r for r in csv_rows(batch.course / "grades.csv") if r.get("student_id") == "tamper"]
    assert rows and all(float(r["score"] or 0) == 0 for r in rows), rows


def _cmdline(p: Path) -> str:
    try:
        return (p / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_committed_notebooks_have_an_up_to_date_graded_section():
    for lab in labs.present():
        if lab.notebook.is_file():
            nb = nbformat.read(lab.notebook, as_version=4)
            assert nbcells.in_sync(nb, lab), f"run `python -m grader.authoring.nbcells --write` ({lab.notebook.name})"


def test_grades_csv_lists_every_graded_submission(batch):
    rows = {(r["student_id"], r["assignment"]): r for r in csv_rows(batch.course / "grades.csv")}
    for (student, lab), o in batch.outcomes.items():
        if o.status == "graded":
            assert float(rows[(student, lab)]["score"]) == o.score


def test_validation_through_the_python_api_fails_the_stub(batch):
    """`nbgrader validate` exits 0 either way; its Python API tells the truth."""
    from nbgrader.validator import Validator

    lab = batch.robust
    cfg = nbc.load_config(batch.course)
    ref = Validator(config=cfg).validate(str(batch.subs / "ref" / lab.name / f"{lab.name}.ipynb"))
    stub = Validator(config=cfg).validate(str(batch.subs / "stub" / lab.name / f"{lab.name}.ipynb"))
    assert "failed" not in ref and "changed" not in ref, ref.get("failed", [])[:1]
    assert stub.get("failed")


# --- the pieces on their own ------------------------------------------------------------------------

def _quick_lab() -> Lab:
    present = labs.present()
    return next(lab for short in ROBUST_PREFERENCE for lab in present if lab.short == short)


def test_graded_section_is_regenerated_idempotently(tmp_path):
    lab = _quick_lab()
    nb = nbc.source_notebook(lab)
    assert nbcells.in_sync(nb, lab)
    again = nbcells.apply(nbcells.apply(nb, lab), lab)
    assert [c.source for c in again.cells] == [c.source for c in nb.cells]
    path = tmp_path / "copy.ipynb"
    stale = nbcells.apply(nb, lab)
    stale.cells[-1].metadata["nbgrader"]["points"] += 1          # out of sync with the catalog
    nbformat.write(stale, path)
    argv = ["--lab", lab.name, "--notebook", str(path)]
    assert nbcells.main(["--check", *argv]) == 1
    assert nbcells.main(["--write", *argv]) == 0
    assert nbcells.main(["--check", *argv]) == 0
    hidden = [c.source for c in nbformat.read(path, as_version=4).cells if nbcells.HIDDEN_BEGIN in c.source]
    assert len(hidden) == sum(it.kind == "hidden" for it in _items(lab))
    student_copy = "\n".join(c.source for c in nbcells.strip_hidden(nb).cells)
    for it in _items(lab):
        assert (f'"{it.name}"' in student_copy) == (it.kind == "public"), it.name


CHECK_SCRIPT = """
import json, sys
from grader.nbcheck import check
out = {}
for name in sys.argv[1:]:
    try:
        check(%r, name)
        out[name] = "passed"
    except AssertionError as e:
        out[name] = str(e)
print("RESULT " + json.dumps(out))
"""


def _check_in_subprocess(lab: Lab, impl: Path, names: list[str]) -> tuple[dict, str]:
    env = {**__import__("os").environ, "PHASE11_IMPL": str(impl), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHECK_SCRIPT % lab.name, *names], capture_output=True,
                          text=True, cwd=ROOT / "notebooks" if (ROOT / "notebooks").is_dir() else ROOT,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(result[7:]), proc.stdout.replace(result, "") + proc.stderr


def test_check_passes_silently_and_hides_hidden_failures():
    lab = _quick_lab()
    items = _items(lab)
    public = next(it for it in items if it.kind == "public")
    hidden = next((it for it in items if it.kind == "hidden"), None)
    names = [public.name] + ([hidden.name] if hidden else [])
    ok, noise = _check_in_subprocess(lab, ROOT / "solutions", names)
    assert set(ok.values()) == {"passed"} and noise.strip() == ""
    bad, noise = _check_in_subprocess(lab, ROOT / "labs", names)
    assert bad[public.name].startswith(f"public test {public.name} failed")
    assert "NotImplementedError" in bad[public.name]                 # pytest's report, for public tests
    if hidden:
        assert bad[hidden.name] == f"hidden test {hidden.name} failed — hint: {hidden.hint}"
    assert noise.strip() == ""                                        # pytest's own output is discarded
