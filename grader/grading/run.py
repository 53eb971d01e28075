"""Run one lab's tests against an implementation root: a watched judge process, a sandboxed module.

The student's code is untrusted and often broken. It runs only in a sandbox (grader/judge/),
which the judge process (grader/judge/worker.py) talks to; the judge runs the tests and reports
through a private pipe, tagged with a nonce it reads from stdin. This parent owns the points
(grader.grading.catalog) and turns whatever happened — a failure, a timeout, a crash — into per-test
results. Should the judge itself die mid-test, that test fails with the reason and the judge is
restarted for the tests still to run.
"""
from __future__ import annotations

import json
import os
import resource
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from grader.grading import catalog
from grader.grading.report import lab_summary
from grader.grading.results import LabRun, TestResult, stub_todos
from grader.judge import cgroup
from grader.judge.client import HELLO_S
from grader.judge.worker import exception_line
from grader.labs import ROOT, Lab

COLLECT_S = 120       # time allowed to start up and collect (imports torch, the student module)
OUTPUT_CAP = 64 << 20 # bytes a test process may write to any file


def _limits(memory_mb: int):
    def apply():
        os.setsid()
        mem = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_CAP, OUTPUT_CAP))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _describe_exit(rc: int) -> str:
    if rc < 0:
        sig = signal.Signals(-rc)
        why = {signal.SIGSEGV: "a segmentation fault", signal.SIGKILL: "killed (memory cap or watchdog)",
               signal.SIGABRT: "aborted", signal.SIGBUS: "a bus error"}.get(sig, sig.name)
        return f"the test process crashed: {why}"
    if rc == 2:
        return "the test process was interrupted (KeyboardInterrupt or pytest.exit in your code)"
    return f"the test process exited with code {rc} (sys.exit/os._exit in your code?)"


class _Child:
    """One worker process and its results pipe."""

    def __init__(self, lab: Lab, impl_root: Path, nodeids: list[str], log, sandbox: bool | str = True,
                 stop_at_hidden_failure: bool = False):
        self.nonce = secrets.token_hex(16)
        r, w = os.pipe()
        fields = {**asdict(lab), "base": str(lab.base)}
        # -P: nothing from the working directory shadows a module (a pytest.py left in /tmp, say)
        cmd = [sys.executable, "-P", "-s", "-m", "grader.judge.worker", "--impl", str(impl_root), "--results-fd", str(w),
               "--timeout", str(lab.timeout_s), "--ini", str(ROOT / "grader" / "grading.ini"),
               "--rootdir", str(ROOT), "--lab", json.dumps(fields), *{True: [], False: ["--no-sandbox"], "direct": ["--direct"]}[sandbox],
               *(["--stop-at-hidden-failure"] if stop_at_hidden_failure else []), *nodeids]
        self.scratch = tempfile.TemporaryDirectory(prefix="phase11-judge-")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env.setdefault("MPLBACKEND", "Agg")
        env["PYTHONDONTWRITEBYTECODE"] = "1"     # grading never writes into labs/ (no __pycache__ either)
        env["OMP_NUM_THREADS"] = "1"       # tests use small tensors; two threads crawl on a busy machine
        # the judge's staging and run folders live in our scratch folder: removed even if it is killed
        env["TMPDIR"] = self.scratch.name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log, pass_fds=(w,),
                                     cwd=self.scratch.name, env=env, preexec_fn=_limits(lab.memory_mb))
        os.close(w)
        self.proc.stdin.write((self.nonce + "\n").encode())
        self.proc.stdin.close()
        self.fd = r
        self.buf = b""

    def events(self, timeout: float):
        """Yield parsed events until ``timeout`` passes without one; yields None on timeout, stops at EOF."""
        while True:
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if isinstance(ev, dict) and ev.get("nonce") == self.nonce:
                    yield ev
                continue
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                yield None
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return
            self.buf += chunk

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> int:
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.wait()
        self.kill()                     # anything left behind in the group
        os.close(self.fd)
        cgroup.remove_stale(self.proc.pid)      # the sandboxes' control groups of a killed judge
        self.scratch.cleanup()
        return rc


def _todo_of(text: str, known: set[str] | None = None) -> str:
    """The message of a stub's NotImplementedError ("lab01_... TODO 3: ..."), if that is what failed.
    With ``known`` (the stub's own messages), anything else is text the student's code chose: ''."""
    for line in text.splitlines():
        if "NotImplementedError:" in line and "TODO" in line:
            msg = line.split("NotImplementedError:", 1)[1].strip()
            if known is None or msg in known:
                return msg
    return ""


def run_lab(lab: Lab, impl_root: Path, kinds: tuple[str, ...] = ("public", "hidden"),
            sandbox: bool | str = True, stop_at_hidden_failure: bool = False) -> LabRun:
    """sandbox: True (the student's module in a sandbox), False (out of process, no sandbox), or
    "direct" (imported into the judge: the benchmark's baseline only, never for grading).
    stop_at_hidden_failure: every public test, hidden ones up to the first that fails (the
    course's own mutant check needs no more; never for grading a student)."""
    start = time.monotonic()
    items = catalog.discover(lab, kinds)
    results = {it.name: TestResult(it) for it in items}
    notes: list[str] = []
    remaining = [it for it in items]
    log = tempfile.TemporaryFile()
    restarts = 0
    while remaining and restarts <= len(items):
        child = _Child(lab, impl_root, [it.nodeid for it in remaining], log, sandbox, stop_at_hidden_failure)
        stopped = False
        current: str | None = None          # nodeid of the test running now
        deadline = time.monotonic() + COLLECT_S
        finished_any = False
        for ev in child.events(timeout=1.0):
            now = time.monotonic()
            if ev is None:
                if now > deadline:
                    child.kill()
                    if current:
                        res = results[_func(current)]
                        res.passed, res.reason = False, f"timed out after {lab.timeout_s} s"
                        res.cases += 1
                    else:
                        notes.append(f"the test process did not start within {COLLECT_S} s")
                    break
                continue
            kind = ev.get("event")
            if kind == "start":
                current = ev["nodeid"]
                deadline = now + lab.timeout_s + _grace(lab.timeout_s)
            elif kind == "alive":           # around a sandbox start-up: trusted time, not the test's
                allow = HELLO_S if ev.get("starting") else lab.timeout_s
                deadline = max(deadline, now + allow + _grace(lab.timeout_s))
            elif kind == "session":
                stopped = bool(ev.get("stopped"))
                for note in [ev.get("sandbox") or "", *ev.get("notes", [])]:
                    if note and note not in notes:
                        notes.append(str(note))
            elif kind == "end":
                _record(results, ev, lab.timeout_s)
                finished_any = True
                current = None
                deadline = now + lab.timeout_s + _grace(lab.timeout_s)
            elif kind == "collect_error":
                # With explicit node ids, one file that cannot be imported stops the whole session,
                # so the error stands for every test still to run.
                text = ev.get("text", "")
                why = f"could not load the tests: {exception_line(text) or 'import error'}"
                for it in remaining:
                    res = results[it.name]
                    if res.cases == 0:
                        res.passed, res.reason, res.cases = False, why, 1
                        res.detail = text if it.kind == "public" else ""
                        res.todo = _todo_of(text)
        rc = child.close()
        if current is not None:             # died or was killed in the middle of a test
            res = results[_func(current)]
            if res.reason != f"timed out after {lab.timeout_s} s":
                res.passed, res.reason = False, _describe_exit(rc)
            res.cases += 1
        done = {name for name, r in results.items() if r.cases > 0}
        left = [it for it in remaining if it.name not in done]
        if left and current is None and not finished_any:
            # Died before running anything: collection itself failed (e.g. exit at import time).
            for it in left:
                results[it.name].reason = _describe_exit(rc) + " before any test ran"
            break
        if stopped and current is None:
            for it in left:
                results[it.name].reason = "not run (stopped at the first hidden failure)"
            break
        remaining = left
        restarts += 1
    log.close()
    # Aggregate: a test function passes only if it ran and every case passed.
    known_todos = stub_todos(lab)
    for res in results.values():
        if res.cases == 0 and res.reason == "not run":
            res.reason = "not run (no result from the test process)"
        if res.item.kind == "hidden" and not res.passed:
            res.detail = ""
            if res.reason.startswith(("failed", "could not load")) and not res.todo:
                res.reason = f"failed — hint: {res.item.hint}"
            elif res.todo and res.todo in known_todos:
                res.reason = f"failed: {res.todo}"
            elif res.todo:
                res.todo, res.reason = "", f"failed — hint: {res.item.hint}"
    return LabRun(lab, list(results.values()), notes, time.monotonic() - start)


def _grace(timeout_s: int) -> int:
    """The watchdog's slack over pytest-timeout's own per-test timeout (which fires first when it can)."""
    return min(10, max(2, timeout_s // 2))


def grade_lab(lab: Lab, impl_root: Path, sandbox: bool | str = True, stop_at_hidden_failure: bool = False,
              record_times: bool = False, hidden_only: bool = False) -> dict:
    """Grade one lab (public and, where present, hidden tests) and summarise it for report/JSON.
    ``hidden_only``: the hidden tests alone (the course's mutant check, where no public result is
    asked for; never for grading a student)."""
    from grader.authoring import manifest

    kinds = ("public", "hidden") if lab.hidden_tests.is_dir() else ("public",)
    if hidden_only:
        kinds = ("hidden",)
    run = run_lab(lab, impl_root, kinds, sandbox, stop_at_hidden_failure)
    for path in lab.stub_paths(impl_root):
        if not path.exists():
            run.notes.append(f"no {path}: nothing to grade there")
    edits = manifest.edited(lab)
    if edits:
        run.notes.append("public test files were edited, so public tests earn no points: "
                         + ", ".join(edits) + f" (restore them: git checkout -- labs/{lab.name}/tests)")
    summary = lab_summary(run, public_counted=not edits)
    if record_times:                 # grader/grading/time_limits.py: each test's time inside the sandbox
        for t, r in zip(summary["tests"], run.results):
            t["sandbox_s"] = r.sandbox_s
    return summary


def _func(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1].split("[", 1)[0]


def _record(results: dict[str, TestResult], ev: dict, timeout_s: int) -> None:
    name = _func(ev["nodeid"])
    res = results.get(name)
    if res is None:
        return                       # a test the catalog does not know earns nothing
    first = res.cases == 0
    res.cases += 1
    outcome = ev.get("outcome")
    if isinstance(ev.get("sandbox_s"), (int, float)):
        res.sandbox_s = max(res.sandbox_s, float(ev["sandbox_s"]))
    if isinstance(ev.get("called"), list):
        res.called = tuple(sorted(set(res.called) | {str(c) for c in ev["called"]}))
    if outcome == "passed":
        if first:
            res.passed, res.reason = True, "passed"
        return
    text = ev.get("text", "")
    if res.passed or first or res.reason == "passed":
        res.passed = False
        if ev.get("sandbox"):
            # a hidden test names the kind of failure only, never text the student's code chose
            res.reason = str(ev["sandbox"] if res.item.kind == "public" else
                             ev.get("sandbox_category") or "your code failed in the sandbox")
        elif outcome == "skipped":
            res.reason = "skipped (a graded test must run)"
        elif "Timeout (>" in text:
            res.reason = f"timed out after {timeout_s} s"
        else:
            exc = ev.get("exc") or exception_line(text) or "failed"
            res.reason = f"failed: {exc}"
        if res.item.kind == "public":
            res.detail = text
        res.todo = res.todo or _todo_of(text)
