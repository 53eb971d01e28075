"""Stubs are generated from the solutions: same names, signatures and docstrings, no answers."""
from __future__ import annotations

import ast

import pytest

from grader.authoring import stubs
from grader.labs import LABS, ROOT

PRESENT = [lab for lab in LABS if all(stubs.solution_path(lab, m).exists() for m in lab.modules)]
MODULES = [(lab, m) for lab in PRESENT for m in lab.modules]


@pytest.mark.parametrize("lab", PRESENT, ids=lambda lab: lab.short)
def test_committed_stub_equals_the_generated_one(lab):
    assert stubs.out_of_sync(lab) == "", f"run `make stubs`\n{stubs.out_of_sync(lab)}"


def _api(path):
    tree = ast.parse(path.read_text())
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            sig = ast.unparse(node.args) if isinstance(node, ast.FunctionDef) else ""
            out[node.name] = (sig, ast.get_docstring(node))
    return out


@pytest.mark.parametrize("lab,module", MODULES, ids=lambda x: getattr(x, "short", x))
def test_stub_and_solution_share_names_signatures_and_docstrings(lab, module):
    stub, sol = _api(lab.stub_path(ROOT / "labs", module)), _api(stubs.solution_path(lab, module))
    assert stub == sol


@pytest.mark.parametrize("lab", PRESENT, ids=lambda lab: lab.short)
def test_todos_are_numbered_once_across_a_labs_modules(lab):
    """TODO numbers run 1, 2, ... through the lab's modules in order, so `next: TODO n` names one
    place; and no two modules of a lab define the same student function or class (the judge
    keeps their budgets and handles by name)."""
    from grader.judge import proxy

    numbers = [n for m in lab.modules for n in stubs.todo_numbers(lab)[m]]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers) and numbers[0] == 1
    names = [n for m in lab.modules for part in proxy.todo_names(stubs.declared_path(lab, m).read_text())
             for n in part]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("lab,module", MODULES, ids=lambda x: getattr(x, "short", x))
def test_every_stub_todo_names_the_lab_and_its_page(lab, module):
    text = lab.stub_path(ROOT / "labs", module).read_text()
    todos = [ln.strip() for ln in text.splitlines() if "raise NotImplementedError" in ln]
    assert todos
    for ln in todos:
        assert f"{lab.name} TODO " in ln and f"labs/{lab.name}/README.md" in ln
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


def test_generator_rejects_unbalanced_or_empty_regions():
    lab = LABS[0]
    with pytest.raises(stubs.StubError, match="never closed"):
        stubs.make_stub(lab, "def f():\n    # BEGIN SOLUTION TODO 1\n    return 1\n")
    with pytest.raises(stubs.StubError, match="nothing for the student"):
        stubs.make_stub(lab, "def f():\n    return 1\n")
    with pytest.raises(stubs.StubError, match="without a BEGIN"):
        stubs.make_stub(lab, "def f():\n    # BEGIN SOLUTION TODO 1\n    x = 1\n    # END SOLUTION\n"
                             "    # END SOLUTION\n")


def test_generator_names_the_method_and_keeps_indentation():
    src = ("class Cache:\n    def access(self, i):\n        \"\"\"doc\"\"\"\n"
           "        # BEGIN SOLUTION TODO 2\n        return i\n        # END SOLUTION\n")
    out = stubs.make_stub(LABS[0], src)
    assert (f'        raise NotImplementedError("{LABS[0].name} TODO 2: Cache.access — '
            f'see labs/{LABS[0].name}/README.md")\n') in out


def test_public_test_fingerprints_are_current():
    """The grader spots edited public tests by these fingerprints: they must match the committed tests."""
    import json

    from grader.authoring import manifest

    assert manifest.MANIFEST.exists(), "run `python -m grader.authoring.manifest --write`"
    assert json.loads(manifest.MANIFEST.read_text()) == manifest.compute(), \
        "public tests changed: run `python -m grader.authoring.manifest --write`"
    assert all(not manifest.edited(lab) for lab in LABS)


def test_every_graded_test_has_a_recorded_time_and_a_limit_within_the_labs():
    """`make stubs` records the reference's time per test (grader/time_limits.json); the judge's
    per-test limit is FACTOR x that, at least FLOOR_S, at most the lab's timeout."""
    from grader.grading import catalog, time_limits

    for lab in LABS:
        names = {it.name for it in catalog.discover(lab, ("public", "hidden"))}
        limits = time_limits.limits(lab)
        assert set(limits) == names, (f"{lab.name}: run `make stubs` to record times "
                                      f"(missing {sorted(names - set(limits))}, stale {sorted(set(limits) - names)})")
        assert all(time_limits.FLOOR_S <= s <= lab.timeout_s for s in limits.values())


def test_a_test_limit_is_a_multiple_of_the_reference_with_a_floor_and_a_cap(tmp_path):
    import json
    from dataclasses import replace

    from grader.grading import time_limits

    lab = replace(LABS[0], base=tmp_path, timeout_s=30)
    (tmp_path / "grader").mkdir()
    (tmp_path / "grader" / "time_limits.json").write_text(json.dumps({lab.name: {"a": 0.001, "b": 0.5, "c": 3.0}}))
    assert time_limits.limits(lab) == {"a": time_limits.FLOOR_S, "b": 0.5 * time_limits.FACTOR, "c": 30.0}


def test_recording_times_again_keeps_a_record_that_still_holds():
    """`make stubs` rewrites a test's time only when it moved by more than 2x (and not both under
    the floor): a new test, a test gone, and a test that got much slower or faster change the record."""
    from grader.grading.time_limits import FACTOR, FLOOR_S, merge

    tiny = FLOOR_S / FACTOR / 10
    old = {"labA": {"same": 0.5, "wobble": 0.5, "slower": 0.5, "both_tiny": tiny, "gone": 1.0}}
    new = {"labA": {"same": 0.5, "wobble": 0.9, "slower": 1.2, "both_tiny": tiny * 5, "fresh": 0.2}}
    assert merge(old, new) == {"labA": {"same": 0.5, "wobble": 0.5, "slower": 1.2, "both_tiny": tiny, "fresh": 0.2}}
    assert merge({}, new) == new


def test_the_readme_states_the_limits_the_judge_uses():
    from grader.grading import time_limits
    from grader.judge import client, session

    readme = (ROOT / "README.md").read_text()
    lab = LABS[0]
    for phrase in (f"{time_limits.FACTOR} × what the course's reference needs",
                   f"at least {time_limits.FLOOR_S:g} s and at most the lab's {lab.timeout_s} s",
                   f"a lab ends at {lab.timeout_s * session.LAB_BUDGET_FACTOR} s",
                   f"{session.FUNCTION_BUDGET_FACTOR} × the lab's longest test limit",
                   f"starts at most {client.MAX_STARTS}"):
        assert phrase in " ".join(readme.split()), phrase
