"""A lab with two student modules (like lab 04: part 1 ``slot_cache``, part 2 ``workloads``).

Part 2 imports part 1 relatively. The judge routes each call to the right module, a part 2 that
does not import costs only part 2's tests, and a broken part 1 costs part 2 too (it builds on it),
with a reason that names the file.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading.run import grade_lab
from test_grader_isolation import by_name, make_lab

NAME = "labzz_two"
DECLARED = {
    "first": ("class Box:\n    def __init__(self, n):\n        raise NotImplementedError('labzz_two TODO 1: Box')\n\n"
              "    def get(self):\n        raise NotImplementedError('labzz_two TODO 1: Box.get')\n\n\n"
              "def double(x):\n    raise NotImplementedError('labzz_two TODO 2: double')\n"),
    "second": ("from .first import Box, double\n\n\n"
               "def quadruple(x):\n    raise NotImplementedError('labzz_two TODO 3: quadruple')\n\n\n"
               "def boxed(x):\n    raise NotImplementedError('labzz_two TODO 4: boxed')\n"),
}
PUBLIC = '''
import pytest
from labzz_two import first, second

@pytest.mark.points(1)
def test_double():
    assert first.double(3) == 6

@pytest.mark.points(1)
def test_box():
    assert first.Box(5).get() == 5

@pytest.mark.points(2)
def test_quadruple():
    assert second.quadruple(3) == 12

@pytest.mark.points(2)
def test_boxed():
    assert second.boxed(4).get() == 4
'''
FIRST = ("class Box:\n    def __init__(self, n):\n        self.n = n\n\n    def get(self):\n        return self.n\n\n\n"
         "def double(x):\n    return 2 * x\n")
SECOND = "from .first import Box, double\n\n\ndef quadruple(x):\n    return double(double(x))\n\n\n" \
         "def boxed(x):\n    return Box(x)\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return make_lab(tmp_path_factory.mktemp("course"), NAME, DECLARED, public=PUBLIC, timeout_s=5)


def impl(root: Path, first: str, second: str) -> Path:
    pkg = root / NAME
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "first.py").write_text(first)
    (pkg / "second.py").write_text(second)
    return root


def test_both_modules_are_graded_and_a_handle_made_in_part_2_works(lab, tmp_path):
    s = grade_lab(lab, impl(tmp_path, FIRST, SECOND))
    assert s["score"] == s["max_score"] == 6, s["tests"]


def test_a_part_2_that_cannot_import_costs_only_part_2(lab, tmp_path):
    s = grade_lab(lab, impl(tmp_path, FIRST, "def quadruple(x)\n    return 4 * x\n"))
    t = by_name(s)
    assert t["test_double"]["passed"] and t["test_box"]["passed"]
    for name in ("test_quadruple", "test_boxed"):
        assert not t[name]["passed"]
        assert "your second.py could not be imported: SyntaxError" in t[name]["reason"], t[name]["reason"]
    assert s["score"] == 2


def test_a_broken_part_1_fails_part_2_too_and_says_which_file(lab, tmp_path):
    s = grade_lab(lab, impl(tmp_path, "import nonexistent_module_xyz\n", SECOND))
    assert s["score"] == 0
    reasons = {t["name"]: t["reason"] for t in s["tests"]}
    assert "your first.py could not be imported: ModuleNotFoundError" in reasons["test_double"], reasons
    assert "your second.py could not be imported" in reasons["test_quadruple"], reasons


def test_next_points_at_the_lowest_todo_across_the_modules(lab, tmp_path):
    stub2 = "from .first import Box, double\n\n\n" + DECLARED["second"].split("\n\n\n", 1)[1]
    s = grade_lab(lab, impl(tmp_path, FIRST, stub2))
    assert "labzz_two TODO 3: quadruple" in s["next_todo"], s["next_todo"]
