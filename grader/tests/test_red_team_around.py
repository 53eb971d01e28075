"""Red team, part 2: the code AROUND the sandbox — what the grader does with the grader's own
privileges — cannot be steered by what a student submits.

Each class of attack from issue 1 (part 2) is a submission for the demo lab of
test_grader_isolation.py (honest part: wrong ``add``, right ``mul``: 3 of 7 points) or for a
small lab of its own. Every test asserts that no marks are gained, nothing secret reaches the
report, nothing is left behind, and the mechanism (not a particular script) is what stops it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from grader.judge import cgroup, jail
from grader.labs import ROOT, Lab
from grader.grading.run import grade_lab
from grader.tests.test_grader_isolation import GOOD_MUL, demo_with_tests, make_course, make_impl, make_lab
from grader.tests.test_red_team import WRONG_ADD, _reasons, _sandbox_processes

pytestmark = pytest.mark.skipif(bool(jail.bwrap_problem()), reason=f"no sandbox here: {jail.bwrap_problem()}")

SECRET = "p11-secret-" + "7f3a9c"      # stands for a solution line or a hidden test's source


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Lab:
    return make_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory) -> Path:
    """A file the grader can read but a student must not: like solutions/ or grader/hidden/."""
    p = tmp_path_factory.mktemp("secret") / "reference.py"
    p.write_text(f"# {SECRET}\ndef add(a, b):\n    return a + b\n" + GOOD_MUL)
    return p


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Each grading here makes its temporary folders in a folder of its own, so "nothing left
    behind" is about this grading, whatever else runs on the machine."""
    d = tmp_path / "tmpdir"
    d.mkdir()
    monkeypatch.setenv("TMPDIR", str(d))
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).rglob("phase11-*")}


def _shown(summary: dict) -> str:
    return json.dumps(summary)


# --- 1. submissions are data: links and special files are refused, never followed ----------------

def test_a_module_that_is_a_link_to_the_reference_scores_nothing(course, tmp_path, secret_file):
    impl = make_impl(tmp_path / "impl", WRONG_ADD)
    mod = impl / "labzz_demo" / "demo.py"
    mod.unlink()
    mod.symlink_to(secret_file)
    before = _leftovers()
    s = grade_lab(course, impl)
    assert s["score"] == 0
    reasons = set(_reasons(s).values())
    assert any("demo.py is a symbolic link" in r for r in reasons), reasons
    assert SECRET not in _shown(s)
    assert _leftovers() <= before


def test_a_helper_module_linked_to_a_secret_cannot_print_it(course, tmp_path, secret_file):
    """The issue's hidden-test leak: a link next to the module, printed through SystemExit."""
    impl = make_impl(tmp_path / "impl", "from labzz_demo import helper\n"
                     "def add(a, b):\n    raise SystemExit(open(helper.__file__).read())\n")
    (impl / "labzz_demo" / "helper.py").symlink_to(secret_file)
    s = grade_lab(course, impl)
    assert s["score"] == 0 and SECRET not in _shown(s)
    assert any("helper.py is a symbolic link" in r for r in _reasons(s).values())


def test_a_linked_package_folder_is_refused(course, tmp_path, secret_file):
    impl = tmp_path / "impl"
    impl.mkdir()
    (impl / "labzz_demo").symlink_to(secret_file.parent)
    s = grade_lab(course, impl)
    assert s["score"] == 0 and SECRET not in _shown(s)


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "hard_link"])
def test_special_files_cost_one_reason_and_leave_nothing_behind(course, tmp_path, kind, secret_file):
    impl = make_impl(tmp_path / "impl", WRONG_ADD)
    target = impl / "labzz_demo" / "x.py"
    if kind == "dev_zero":
        target.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(target)
    else:                                   # a regular file that is also the reference
        os.link(secret_file, target)
    before = _leftovers()
    t0 = time.monotonic()
    s = grade_lab(course, impl)
    assert s["score"] == 0
    reasons = set(_reasons(s).values())
    assert len(reasons) == 1 and "x.py is" in reasons.pop()
    assert _leftovers() <= before, "a refused copy left a folder behind"
    assert time.monotonic() - t0 < 60          # no sandbox was started per test to fail again


def test_the_sandbox_sees_no_path_of_the_course_but_its_python(course, tmp_path, private_tmp):
    """/proc/self/mountinfo names every bind's source: only the Python environment may be under the course."""
    s = grade_lab(course, make_impl(tmp_path / "impl", textwrap.dedent('''
        def add(a, b):
            raise ValueError("MOUNTS " + open("/proc/self/mountinfo").read())
        ''')))
    detail = next(t for t in s["tests"] if t["name"] == "test_add")["detail"]
    assert "ValueError: MOUNTS" in detail
    mounts = detail.split("ValueError: MOUNTS", 1)[1].split("raised in your code", 1)[0]
    assert " /p11/impl " in mounts                 # it is the sandbox's table
    seen = mounts.replace(sys.prefix, "<python>").replace(sys.base_prefix, "<python>")
    seen = seen.replace(str(private_tmp), "<the grader's temporary folder>")
    assert str(course.base) not in seen and str(ROOT) not in seen and str(tmp_path) not in seen


# --- 2. tests own their inputs -------------------------------------------------------------------

LIST_DECLARED = ("def total(xs):\n    raise NotImplementedError('labzz_list TODO 1: total')\n\n\n"
                 "def first(xs):\n    raise NotImplementedError('labzz_list TODO 2: first')\n")
LIST_PUBLIC = '''
import pytest
from labzz_list import listy

@pytest.mark.points(1)
def test_total():
    xs = [3, 4, 5]
    got = listy.total(xs)
    assert got == sum(xs)          # computed after the call, from the same list

@pytest.mark.points(1)
def test_first_returns_the_object_itself():
    xs = [[1], [2]]
    got = listy.first(xs)
    assert got is xs[0]
'''


def _list_course(root: Path) -> Lab:
    return make_lab(root, "labzz_list", "listy", LIST_DECLARED, LIST_PUBLIC, timeout_s=5)


def _list_impl(root: Path, source: str) -> Path:
    (root / "labzz_list").mkdir(parents=True)
    (root / "labzz_list" / "__init__.py").write_text("")
    (root / "labzz_list" / "listy.py").write_text(textwrap.dedent(source))
    return root


def test_changing_an_argument_in_place_changes_nothing_for_the_test(tmp_path):
    lab = _list_course(tmp_path / "course")
    garbage = _list_impl(tmp_path / "garbage", '''
        def total(xs):
            xs.clear()             # in-process, the test would then compare 0 with sum([]) == 0
            return 0
        def first(xs):
            xs[0].append(99)       # a changed argument comes back as its new value, not as "yours"
            return xs[0]
        ''')
    s = grade_lab(lab, garbage)
    assert s["score"] == 0, _reasons(s)
    honest = _list_impl(tmp_path / "honest", '''
        def total(xs):
            return sum(xs)
        def first(xs):
            return xs[0]           # identity of what was passed in and returned unchanged holds
        ''')
    assert grade_lab(lab, honest)["score"] == 2


# --- 3. limits per sandbox, start-ups and restarts charged ---------------------------------------

HOG = '''
    import os, select, time
    def add(a, b):
        r, w = os.pipe()
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = b"x" * (400 << 20)         # resident, not just reserved
                os.write(w, b"1")
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
        got, end = 0, time.monotonic() + 8
        while got < 4 and select.select([r], [], [], max(end - time.monotonic(), 0))[0]:
            got += len(os.read(r, 4))
        time.sleep(2)                              # hold it: let a watchdog look
        alive = sum(os.waitpid(p, os.WNOHANG) == (0, 0) for p in kids)
        return 1000 + alive
    '''


def _roomy(lab: Lab) -> Lab:
    """The demo lab with time enough to allocate 1.6 GB: only memory may stop the hog."""
    return dataclasses.replace(lab, timeout_s=20)


@pytest.mark.parametrize("groups", ["cgroup", "watchdog"])
def test_memory_is_capped_for_the_whole_sandbox(course, tmp_path, groups, monkeypatch):
    """Four children of 400 MiB each: under a 1 GiB cap for the sandbox, they never all live."""
    if groups == "cgroup" and cgroup.problem():
        pytest.skip(f"no control groups here: {cgroup.problem()}")
    if groups == "watchdog":
        monkeypatch.setenv("PHASE11_CGROUPS", "off")
    s = grade_lab(_roomy(course), make_impl(tmp_path / "impl", textwrap.dedent(HOG)))
    add = next(t for t in s["tests"] if t["name"] == "test_add")
    assert "1004" not in add.get("detail", "") and not add["passed"], add
    assert "timed out" not in add["reason"], add          # stopped by the cap, not by the clock
    assert _reasons(s)["test_mul"] == "passed"
    assert not _sandbox_processes()


def test_control_without_the_sandbox_the_children_all_live(course, tmp_path):
    """Per-process rlimits alone (no sandbox) let all four live: the check above can fail."""
    s = grade_lab(_roomy(course), make_impl(tmp_path / "impl", textwrap.dedent(HOG)), sandbox=False)
    add = next(t for t in s["tests"] if t["name"] == "test_add")
    assert "1004" in add.get("detail", ""), add


def test_a_slow_import_and_a_crash_per_call_cannot_keep_the_grader_busy(tmp_path):
    fast = demo_with_tests(tmp_path / "course", "".join(
        f"\n@pytest.mark.points(1)\ndef test_crash_{i}():\n    assert demo.add(1, 2) == 3\n" for i in range(30)), 2)
    impl = make_impl(tmp_path / "impl", "import time, os\ntime.sleep(1.5)\n"
                     "def add(a, b):\n    os._exit(3)\n")
    s = grade_lab(fast, impl)
    reasons = list(_reasons(s).values())
    assert s["score"] == 0
    # each start-up is charged to the lab's 8 s budget, and at most MAX_STARTS sandboxes start
    assert sum("ended the sandbox" in r or "crashed" in r for r in reasons) <= 6, reasons
    assert any("time budget" in r or "started 6 times" in r for r in reasons), reasons


# --- 5. hidden tests never show text the student's code chose ------------------------------------

@pytest.mark.parametrize("raise_it", [
    f"raise SystemExit('{SECRET}')",
    f"raise type('{SECRET.replace('-', '_')}', (Exception,), {{}})('x')",
    f"raise NotImplementedError('labzz_demo TODO 1: {SECRET}')",
    f"raise KeyboardInterrupt('{SECRET}')",
])
def test_hidden_reasons_show_a_category_never_the_students_text(course, tmp_path, raise_it):
    s = grade_lab(course, make_impl(tmp_path / "impl", f"def add(a, b):\n    {raise_it}\n"))
    hidden = [t for t in s["tests"] if t["kind"] == "hidden"]
    assert hidden and not any(t["passed"] for t in hidden if t["name"] == "test_add_negative")
    for t in hidden:
        assert SECRET not in t["reason"] and SECRET.replace("-", "_") not in t["reason"], t
