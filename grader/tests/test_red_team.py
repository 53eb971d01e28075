"""Red team: submissions that try to earn marks they did not, and what the grader makes of them.

Each attack is a student module for the demo lab of test_grader_isolation.py whose honest part is
wrong ``add`` and right ``mul`` (honest score 3 of 7), plus the attack. For every attack:
  * the forged submission scores no more than its honest code;
  * nothing it started survives grading;
  * it wrote nothing outside its sandbox (its marker file appears nowhere we can look);
and grading another submission afterwards is unaffected. One test runs the attack the issue
measured on the real labs (code appended to every untouched stub) and requires 0 points.

Where a platform gives no sandbox (``bwrap`` missing), these tests are skipped with the reason:
out-of-process grading alone does not make these guarantees, and the grader says so.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import textwrap
import time
import threading
from pathlib import Path

import pytest

from grader.judge import jail
from grader.labs import LABS, ROOT, Lab
from grader.grading.run import grade_lab
from grader.tests.test_grader_isolation import demo_with_tests, make_course, make_impl

pytestmark = pytest.mark.skipif(bool(jail.bwrap_problem()), reason=f"no sandbox here: {jail.bwrap_problem()}")

HONEST = 3                      # wrong add, right mul
MARK = "p11-red-team-marker"
WRONG_ADD = "def add(a, b):\n    return a - b\n"


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Lab:
    return make_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def other_student(tmp_path_factory) -> Path:
    """Another student's correct submission, on disk next to the attacker's."""
    return make_impl(tmp_path_factory.mktemp("other") / "impl", "def add(a, b):\n    return a + b\n")


def _markers_anywhere(*extra: Path) -> list[str]:
    places = [Path(tempfile.gettempdir()), Path.cwd(), ROOT, Path.home(), *extra]
    found = []
    for place in places:
        try:
            found += [str(p) for p in place.glob(f"{MARK}*")]
        except OSError:
            pass
    return found


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(ln.rstrip("\n").split(":\t", 1) for ln in f if ":\t" in ln)
    except OSError:
        return {}


def _under_a_live_grading(pid: int) -> bool:
    """True when ``pid`` descends from a judge or sandbox that is still running (another grading
    on the machine); a process that outlived its grading has been re-parented away from those."""
    seen = 0
    while pid > 1 and seen < 64:
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            return False
        if b"grader.judge.worker" in cmd or b"grader.judge.kernel_jail" in cmd:
            return True
        pid = int(_status(pid).get("PPid", "0").split()[0] or 0)
        seen += 1
    return False


def _sandbox_processes() -> list[int]:
    """Processes still running under a sandbox user id that no running grading owns.

    With `make test`'s two workers, another test's grading may be ending at this very moment: its
    killed processes are zombies, or re-parented for the instant before they are gone. Zombies
    run nothing and hold nothing, so they do not count; whatever else is found must still be
    there a second later (a process that outlived its grading does not go away by itself)."""
    def scan() -> set[int]:
        out = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                status = _status(int(entry))
                try:
                    uid = int(status["Uid"].split()[0])
                except (KeyError, ValueError, IndexError):
                    continue
                if jail.UID_RANGE[0] <= uid < jail.UID_RANGE[1] and not status.get("State", "").startswith("Z") \
                        and not _under_a_live_grading(int(entry)):
                    out.add(int(entry))
        return out

    found = scan()
    if found:
        time.sleep(1.0)
        found &= scan()
    return sorted(found)


def _attack(course: Lab, tmp_path: Path, source: str, add: str = WRONG_ADD) -> dict:
    impl = make_impl(tmp_path / "impl", textwrap.dedent(source) + "\n" + add)
    summary = grade_lab(course, impl)
    assert summary["score"] <= HONEST, [(t["name"], t["reason"]) for t in summary["tests"]]
    assert not _markers_anywhere(course.base, impl, tmp_path), "the attack wrote outside its sandbox"
    assert not _sandbox_processes(), "something the attack started outlived grading"
    return summary


def _reasons(summary: dict) -> dict[str, str]:
    return {t["name"]: t["reason"] for t in summary["tests"]}


# --- results forged in the student's own process ----------------------------------------------

def test_rewrapping_pytest_reports_changes_nothing(course, tmp_path):
    _attack(course, tmp_path, '''
        import sys
        try:
            import _pytest.reports, _pytest.runner
            _pytest.reports.TestReport.outcome = property(lambda self: "passed", lambda self, v: None)
            _pytest.reports.BaseReport.passed = property(lambda self: True)
        except Exception:
            pass
        for name in list(sys.modules):
            if name.startswith("grader"):
                mod = sys.modules[name]
                for attr in dir(mod):
                    if "Report" in attr:
                        setattr(mod, attr, None)
        ''')


def test_patching_test_helpers_changes_nothing(course, tmp_path):
    _attack(course, tmp_path, '''
        import pytest, torch
        pytest.approx = lambda *a, **k: type("Any", (), {"__eq__": lambda s, o: True})()
        pytest.raises = lambda *a, **k: __import__("contextlib").nullcontext()
        torch.testing.assert_close = lambda *a, **k: None
        try:
            import grader.testing
            grader.testing.assert_close = lambda *a, **k: None
        except ImportError:
            pass
        ''')


@pytest.mark.parametrize("forged", [
    "type('Any', (), {'__eq__': lambda s, o: True, '__hash__': lambda s: 0})()",
    "type('I', (int,), {'__eq__': lambda s, o: True, '__hash__': lambda s: 0})(0)",
    "type('F', (float,), {'__eq__': lambda s, o: True, '__hash__': lambda s: 0})(0.0)",
    "type('D', (dict,), {'__eq__': lambda s, o: True})()",
])
def test_objects_that_equal_everything_do_not_cross(course, tmp_path, forged):
    s = _attack(course, tmp_path, "", add=f"def add(a, b):\n    return {forged}\n")
    assert not _reasons(s)["test_add"] == "passed"


def test_a_profile_hook_finds_no_expected_values(course, tmp_path):
    _attack(course, tmp_path, '''
        import sys
        def hook(frame, event, arg):
            f = frame
            while f is not None:
                for k, v in list(f.f_locals.items()):
                    if k in ("expected", "want", "ref") and isinstance(v, int):
                        raise SystemExit(v)
                f = f.f_back
        sys.setprofile(hook)
        ''')


# --- reading what a student must not see ---------------------------------------------------------

def test_solutions_hidden_tests_and_other_submissions_are_not_there(course, tmp_path, other_student):
    secrets = [ROOT / "solutions", ROOT / "grader" / "hidden", ROOT / "grader" / "tests", ROOT / "grader" / "mutants",
               course.base / "grader" / "hidden", other_student]
    s = _attack(course, tmp_path, f'''
        import os
        SEEN = []
        for top in {[str(p) for p in secrets]!r}:
            for dirpath, dirs, files in os.walk(top):
                for f in files:
                    try:
                        SEEN.append(open(os.path.join(dirpath, f)).read()[:200])
                    except OSError:
                        pass
        ''', add='''def add(a, b):
    if SEEN:
        raise ValueError("LEAK " + " ".join(SEEN))
    for path in ("{other}",):
        try:
            exec(open(path).read(), globals())
        except OSError:
            pass
    return a - b
'''.replace("{other}", str(other_student / "labzz_demo" / "demo.py")))
    shown = repr(s)
    assert "LEAK" not in shown and "-17, -25" not in shown and "think about" not in _reasons(s)["test_add"]


# --- the judge, the clock and the machine --------------------------------------------------------

def test_signals_cannot_reach_the_judge(course, tmp_path):
    s = _attack(course, tmp_path, '''
        import os, signal
        def add(a, b):
            for pid in [os.getppid(), 1, -1] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
                for sig in (signal.SIGSTOP, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass
            return a - b
        ''', add="")
    assert _reasons(s)["test_mul"] == "passed"          # the judge lived on and graded the rest


def test_children_do_not_outlive_grading(course, tmp_path):
    _attack(course, tmp_path, '''
        import os, subprocess, sys
        subprocess.Popen(["sleep", "31337"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                import time
                time.sleep(31337)
            os._exit(0)
        ''')
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).find("31337") >= 0]


def _cmdline(pid: str) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
    except OSError:
        return ""


def test_a_trickle_on_every_descriptor_cannot_stop_the_clock(course, tmp_path):
    s = _attack(course, tmp_path, '''
        import os, time
        def add(a, b):
            while True:
                for fd in range(0, 64):
                    try:
                        os.write(fd, b"\\x00")
                    except OSError:
                        pass
                time.sleep(0.2)
        ''', add="")
    assert _reasons(s)["test_add"] == f"timed out after {course.timeout_s} s"


def test_a_fork_bomb_is_capped_and_cleaned_up(course, tmp_path):
    s = _attack(course, tmp_path, '''
        import os
        def add(a, b):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        ''', add="")
    assert not _reasons(s)["test_add"] == "passed"


def test_no_network(course, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    got = []
    done = threading.Event()

    def accept():
        while not done.is_set():          # listen for as long as the grading runs, not a fixed 20 s
            try:
                got.append(server.accept())
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    _attack(course, tmp_path, f'''
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=1).sendall(b"hello")
        except OSError:
            pass
        ''')
    done.set()
    t.join(timeout=30)
    server.close()
    assert got == [], "the sandbox reached a server on the judge's loopback"


def test_writes_stay_inside_the_sandbox(course, tmp_path):
    targets = [Path(tempfile.gettempdir()), ROOT, course.base, tmp_path, Path.home(), Path("/")]
    _attack(course, tmp_path, f'''
        import os
        for d in {[str(p) for p in targets]!r} + [os.getcwd(), os.path.dirname(__file__)]:
            for name in ("{MARK}", "pytest.py"):
                try:
                    with open(os.path.join(d, name), "w") as f:
                        f.write("raise SystemExit('hijacked')")
                except OSError:
                    pass
        ''')
    assert not (Path(tempfile.gettempdir()) / "pytest.py").exists()


def test_the_whole_lab_has_a_time_budget(tmp_path):
    """A function that loops in every test costs at most the lab's budget, not a timeout per test."""
    fast = demo_with_tests(tmp_path / "course", "".join(
        f"\n@pytest.mark.points(1)\ndef test_spin_{i}():\n    assert demo.add(1, 2) == 3\n" for i in range(12)), 1)
    impl = make_impl(tmp_path / "impl", "def add(a, b):\n    while True:\n        pass\n")
    reasons = list(_reasons(grade_lab(fast, impl)).values())
    assert all(r != "passed" for r in reasons)
    assert any("used up its time" in r or "time budget" in r for r in reasons), reasons
    assert sum(r == "timed out after 1 s" for r in reasons) <= 2 + 1      # the function's budget: two timeouts


def test_grading_after_the_attacks_is_unaffected(course, tmp_path):
    assert grade_lab(course, make_impl(tmp_path / "good", "def add(a, b):\n    return a + b\n"))["score"] == 7
    assert grade_lab(course, make_impl(tmp_path / "honest", WRONG_ADD))["score"] == HONEST


# --- the real labs: the issue's measured attack --------------------------------------------------

APPENDED = '''

# --- appended by a student who never did the lab ---
def _p11_attack():
    import os, sys, glob
    for root in ("/work", "/root", "/home", "/tmp", os.path.expanduser("~")):
        for path in glob.glob(root + "/**/solutions/*/*.py", recursive=True):
            try:
                exec(open(path).read(), globals())
            except Exception:
                pass
    try:
        import _pytest.reports
        _pytest.reports.TestReport.outcome = property(lambda self: "passed", lambda self, v: None)
    except Exception:
        pass
_p11_attack()
'''


def test_code_appended_to_every_stub_scores_zero(tmp_path):
    impl = tmp_path / "impl"
    shutil.copytree(ROOT / "labs", impl, ignore=shutil.ignore_patterns("__pycache__", "model", "*.bak-*"))
    for lab in LABS:
        for stub in lab.stub_paths(impl):
            stub.write_text(stub.read_text() + APPENDED)
    for lab in LABS:
        s = grade_lab(lab, impl)
        assert s["score"] == 0, (lab.name, [t["name"] for t in s["tests"] if t["passed"]])
    assert not _sandbox_processes()


# --- controls: the same attacks without the sandbox do succeed, so the checks above can fail ------

def test_control_without_the_sandbox_the_attacks_work(course, tmp_path, other_student):
    steal = make_impl(tmp_path / "steal", f'exec(open("{other_student / "labzz_demo" / "demo.py"}").read())\n')
    assert grade_lab(course, steal, sandbox=False)["score"] == 7 > HONEST
    scribble = make_impl(tmp_path / "scribble", f'open("{tmp_path / MARK}", "w").write("x")\n' + WRONG_ADD)
    grade_lab(course, scribble, sandbox=False)
    assert _markers_anywhere(tmp_path)
    assert grade_lab(course, steal)["score"] <= HONEST          # and with it, they do not
