"""The student's loop: contained (a bug in one function costs only its tests), talkative (prints
show under a failing public test) and fair under load (honest code gets every point while other
gradings run). The demo lab of test_grader_isolation.py, plus the real labs for the load test.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader import labs
from grader.judge import jail
from grader.labs import ROOT
from grader.grading.run import grade_lab
from grader.tests.test_grader_isolation import demo_with_tests, make_course, make_impl

pytestmark = pytest.mark.skipif(bool(jail.bwrap_problem()), reason=f"no sandbox here: {jail.bwrap_problem()}")


def _reasons(s: dict) -> dict[str, str]:
    return {t["name"]: t["reason"] for t in s["tests"]}


def test_prints_show_under_a_failing_public_test_and_never_under_a_hidden_one(tmp_path):
    lab = make_course(tmp_path / "course")
    impl = make_impl(tmp_path / "impl", "def add(a, b):\n    print('DEBUG add got', a, b)\n"
                                        "    import sys; print('ON STDERR', file=sys.stderr)\n    return a - b\n")
    s = grade_lab(lab, impl)
    add = next(t for t in s["tests"] if t["name"] == "test_add")
    assert "what your code printed" in add["detail"] and "DEBUG add got 1 2" in add["detail"]
    assert "ON STDERR" in add["detail"]
    hidden = [t for t in s["tests"] if t["kind"] == "hidden"]
    assert "DEBUG" not in json.dumps(hidden)


def test_one_looping_function_costs_only_its_own_tests(tmp_path):
    tests = "".join(f"\n@pytest.mark.points(1)\ndef test_add_{i}():\n    assert demo.add(1, 2) == 3\n" for i in range(4))
    tests += "".join(f"\n@pytest.mark.points(1)\ndef test_mul_{i}():\n    assert demo.mul(2, {i}) == {2 * i}\n"
                     for i in range(8))
    two = demo_with_tests(tmp_path / "course", tests, 2)
    s = grade_lab(two, make_impl(tmp_path / "impl", "def add(a, b):\n    while True:\n        pass\n"))
    r = _reasons(s)
    assert all(r[f"test_mul_{i}"] == "passed" for i in range(8)), r
    adds = [r[f"test_add_{i}"] for i in range(4)]
    assert adds.count("timed out after 2 s") <= 2 and sum("add() has used up its time" in x for x in adds) >= 2, adds


def test_honest_code_gets_every_point_while_two_other_gradings_run():
    chosen = [labs.get("lab03"), labs.get("lab04"), labs.get("lab02")]
    with ThreadPoolExecutor(max_workers=3) as pool:
        summaries = list(pool.map(lambda lab: grade_lab(lab, ROOT / "solutions"), chosen))
    for lab, s in zip(chosen, summaries):
        assert s["score"] == s["max_score"], (lab.name, [t["reason"] for t in s["tests"] if not t["passed"]])


def test_next_points_at_the_lowest_failing_todo_even_when_it_is_written(tmp_path):
    """add (TODO 1) is written but wrong, mul (TODO 2) is still the stub: next is TODO 1."""
    lab = make_course(tmp_path / "course")
    impl = tmp_path / "impl" / "labzz_demo"
    impl.mkdir(parents=True)
    (impl / "__init__.py").write_text("")
    (impl / "demo.py").write_text("def add(a, b):\n    return a - b\n\n\n"
                                  "def mul(a, b):\n    raise NotImplementedError('labzz_demo TODO 2: mul')\n")
    s = grade_lab(lab, impl.parent)
    assert s["next_todo"] == "labzz_demo TODO 1: add"
