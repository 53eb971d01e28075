"""The grader survives untrusted student code: each misbehaviour fails tests, never the grader.

A tiny synthetic lab (two public tests, two hidden ones) is graded against deliberately bad
implementation directories. The synthetic lab keeps these tests fast and independent of the
real labs' content; grader/tests/test_grader_cli.py covers the real labs end to end.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from grader.labs import Lab
from grader.grading.run import grade_lab

PUBLIC = '''
import pytest
from labzz_demo import demo

@pytest.mark.points(1)
def test_add():
    assert demo.add(1, 2) == 3

@pytest.mark.points(2)
def test_mul():
    assert demo.mul(2, 3) == 6
'''
HIDDEN = '''
import pytest
from labzz_demo import demo

@pytest.mark.points(3)
@pytest.mark.hint("think about negative numbers")
def test_add_negative():
    assert demo.add(-17, -25) == -42

@pytest.mark.points(1)
@pytest.mark.hint("products of small numbers")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_mul_many(n):
    assert demo.mul(n, 2) == 2 * n
'''
GOOD_MUL = "def mul(a, b):\n    return a * b\n"
ADD = {
    "good": "def add(a, b):\n    return a + b\n",
    "stub": "def add(a, b):\n    raise NotImplementedError('labzz_demo TODO 1: add — see the page')\n",
    "wrong": "def add(a, b):\n    return a - b\n",
    "loop": "def add(a, b):\n    while True:\n        pass\n",
    # swallows pytest-timeout's exception: only the parent's watchdog can stop it
    "stubborn_loop": "def add(a, b):\n    while True:\n        try:\n            while True:\n                pass\n"
                     "        except BaseException:\n            pass\n",
    "sys_exit": "import sys\ndef add(a, b):\n    sys.exit(3)\n",
    "os_exit": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "segfault": "import ctypes\ndef add(a, b):\n    return ctypes.string_at(0)\n",
    "keyboard_interrupt": "def add(a, b):\n    raise KeyboardInterrupt\n",
    "memory_hog": "def add(a, b):\n    return len(bytearray(64 << 30))\n",
    "print_flood": "def add(a, b):\n    while True:\n        print('x' * 1_000_000)\n",
    "exit_at_import": "import os\nos._exit(0)\n",
    "syntax_error": "def add(a, b)\n    return a + b\n",
    # tries to forge results: fake JSON lines on every descriptor and stdout
    "forger": textwrap.dedent('''
        import os, json
        for fd in range(1, 64):
            for name in ("test_add", "test_mul", "test_add_negative", "test_mul_many"):
                line = json.dumps({"event": "end", "nodeid": f"x::{name}", "outcome": "passed",
                                   "nonce": "guess", "text": ""}) + "\\n"
                try:
                    os.write(fd, line.encode())
                except OSError:
                    pass
        print("PASSED 7/7")
        def add(a, b):
            return a - b
        '''),
}


# What the judge trusts about the demo lab (grader/declared/<lab>/<module>.py): two TODO functions.
DECLARED = (
    "def add(a, b):\n    raise NotImplementedError('labzz_demo TODO 1: add')\n\n\n"
    "def mul(a, b):\n    raise NotImplementedError('labzz_demo TODO 2: mul')\n"
)


def make_lab(root: Path, name: str, module: str | dict, declared: str = "", public: str = "", hidden: str | None = None,
             timeout_s: int = 2, memory_mb: int = 1024) -> Lab:
    """A synthetic lab under ``root``: its declared module(s) (``module`` with ``declared``, or a
    dict module -> declared text, in order), public tests and (optionally) hidden ones."""
    modules = module if isinstance(module, dict) else {module: declared}
    (root / "grader" / "declared" / name).mkdir(parents=True)
    for m, text in modules.items():
        (root / "grader" / "declared" / name / f"{m}.py").write_text(text)
    (root / "labs" / name / "tests").mkdir(parents=True)
    (root / "labs" / name / "tests" / "test_public.py").write_text(public)
    if hidden is not None:
        (root / "grader" / "hidden" / name).mkdir(parents=True)
        (root / "grader" / "hidden" / name / "test_hidden.py").write_text(hidden)
    return Lab(name, tuple(modules), name, "CPU", timeout_s=timeout_s, memory_mb=memory_mb, base=root)


def make_course(root: Path) -> Lab:
    return make_lab(root, "labzz_demo", "demo", DECLARED, PUBLIC, HIDDEN)


def demo_with_tests(root: Path, public: str, timeout_s: int) -> Lab:
    """The demo lab with these public tests only (no hidden ones) and this per-test limit."""
    return make_lab(root, "labzz_demo", "demo", DECLARED, "import pytest\nfrom labzz_demo import demo\n" + public,
                    timeout_s=timeout_s)


def make_impl(root: Path, add_src: str) -> Path:
    pkg = root / "labzz_demo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "demo.py").write_text(add_src + "\n" + GOOD_MUL)
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Lab:
    return make_course(tmp_path_factory.mktemp("course"))


def grade(course: Lab, tmp_path: Path, variant: str) -> dict:
    impl = make_impl(tmp_path / variant, ADD[variant])
    return grade_lab(course, impl)


def by_name(summary: dict) -> dict[str, dict]:
    return {t["name"]: t for t in summary["tests"]}


def test_good_implementation_gets_full_marks(course, tmp_path):
    s = grade(course, tmp_path, "good")
    assert (s["score"], s["max_score"]) == (7, 7)
    assert s["public"] == {"passed": 2, "total": 2, "counted": True}
    assert s["hidden"]["passed"] == 2


def test_stub_scores_zero_for_add_and_points_at_the_todo(course, tmp_path):
    s = grade(course, tmp_path, "stub")
    assert s["score"] == 3                     # mul is implemented, add is not
    assert "labzz_demo TODO 1: add" in s["next_todo"]


def test_hidden_failure_shows_hint_not_code_or_expected_values(course, tmp_path):
    s = grade(course, tmp_path, "wrong")
    hidden = by_name(s)["test_add_negative"]
    assert not hidden["passed"]
    assert "think about negative numbers" in hidden["reason"]
    dumped = json.dumps(hidden)
    assert "-42" not in dumped and "assert" not in dumped and "detail" not in hidden
    public = by_name(s)["test_add"]
    assert "assert" in public["detail"]       # public tests give full pytest feedback


@pytest.mark.parametrize("variant", ["loop", "stubborn_loop"])
def test_endless_loop_times_out_and_grading_goes_on(course, tmp_path, variant):
    s = grade(course, tmp_path, variant)
    t = by_name(s)
    assert t["test_add"]["reason"] == "timed out after 2 s"
    assert not t["test_add_negative"]["passed"]
    assert t["test_mul"]["passed"] and t["test_mul_many"]["passed"]
    assert s["score"] == 3


@pytest.mark.parametrize("variant, words", [
    ("sys_exit", "SystemExit"),
    ("os_exit", "exited with code 0"),
    ("segfault", "segmentation fault"),
    ("keyboard_interrupt", "interrupted"),
    ("memory_hog", "MemoryError"),
    ("print_flood", "timed out"),      # prints are captured (and capped) per call: an endless loop like any other
])
def test_a_crashing_or_hostile_function_fails_only_its_tests(course, tmp_path, variant, words):
    s = grade(course, tmp_path, variant)
    t = by_name(s)
    assert not t["test_add"]["passed"]
    assert words in t["test_add"]["reason"], t["test_add"]["reason"]
    assert t["test_mul"]["passed"] and t["test_mul_many"]["passed"], s["tests"]
    assert s["score"] == 3


@pytest.mark.parametrize("variant", ["exit_at_import", "syntax_error"])
def test_a_module_that_cannot_load_scores_zero_with_a_reason(course, tmp_path, variant):
    s = grade(course, tmp_path, variant)
    assert s["score"] == 0
    assert all(t["reason"] and t["reason"] != "passed" for t in s["tests"])


def test_printed_or_written_fake_results_are_ignored(course, tmp_path):
    s = grade(course, tmp_path, "forger")
    t = by_name(s)
    assert not t["test_add"]["passed"] and not t["test_add_negative"]["passed"]
    # writing into the sandbox's own channel corrupts it: the module forfeits, never gains
    assert s["score"] <= 3


def test_edited_public_tests_are_detected_and_not_counted(tmp_path):
    from grader.authoring import manifest

    lab = make_course(tmp_path / "course")
    f = lab.public_tests / "test_public.py"
    record = {str(f.relative_to(lab.base)): manifest._digest(f)}
    (lab.base / "grader" / "public_tests.json").write_text(json.dumps(record))
    impl = make_impl(tmp_path / "impl", ADD["wrong"])
    assert grade_lab(lab, impl)["public"]["counted"]
    f.write_text(PUBLIC.replace("== 3", "== -1"))          # "fix" the test to match the wrong code
    s = grade_lab(lab, impl)
    assert s["public"]["counted"] is False
    assert s["public"]["passed"] == 2              # the edited tests pass...
    assert s["score"] == 1                          # ...but only the hidden test_mul_many earns points
    assert any("edited" in n and "test_public.py" in n for n in s["notes"])


def test_grading_never_writes_into_the_implementation(course, tmp_path):
    impl = make_impl(tmp_path / "ro", ADD["good"])
    before = sorted(p.relative_to(impl) for p in impl.rglob("*"))
    grade_lab(course, impl)
    assert sorted(p.relative_to(impl) for p in impl.rglob("*")) == before
