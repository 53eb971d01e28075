"""The judge: the process that runs one lab's tests, public and hidden, against a sandboxed module.

Started by grader/grading/run.py, never by hand. It never imports the student's module: the tests
import a proxy (grader/judge/proxy.py) whose student parts run in a sandbox process
(grader/judge/jail.py), and every value coming back is data, checked here. It reads a nonce
from stdin, then reports every test's start and outcome as JSON lines on a private pipe
(``--results-fd``); the parent still watches this process (a bug in a test, the memory cap).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

MAX_REPR = 4000
JUDGE_SLACK_S = 10       # pytest-timeout's extra time for the judge's own work in a test
# How every graded test runs in the judge: no conftest
# files (a student's conftest.py cannot hook in), no sys.path changes by pytest, no cache written,
# and only the plugin the judge needs (pytest-timeout): main() turns plugin autoloading off, which
# keeps out whatever else is installed (hypothesis's plugin alone costs 0.85 s per grading).
PYTEST_OPTIONS = ("-q", "-p", "pytest_timeout", "-p", "no:cacheprovider", "--noconftest", "--import-mode=importlib",
                  "-o", "console_output_style=classic", "--tb=short", "-W", "ignore::DeprecationWarning")


class Reporter:
    """pytest plugin: one JSON line per event, tagged with the parent's nonce."""

    def __init__(self, fd: int, nonce: str):
        self._out = os.fdopen(fd, "w", buffering=1)
        self._nonce = nonce
        self._worst: dict[str, tuple[str, str]] = {}

    def _emit(self, **event):
        event["nonce"] = self._nonce
        self._out.write(json.dumps(event) + "\n")
        self._out.flush()

    def pytest_collectreport(self, report):
        if report.failed:
            self._emit(event="collect_error", nodeid=report.nodeid,
                       text=str(report.longrepr)[-MAX_REPR:])

    def pytest_runtest_logstart(self, nodeid, location):
        self._emit(event="start", nodeid=nodeid)

    def pytest_runtest_logreport(self, report):
        outcome = report.outcome  # passed / failed / skipped
        prev = self._worst.get(report.nodeid, ("passed", ""))
        if prev[0] == "passed" and outcome != "passed":
            text = str(report.longrepr)[-MAX_REPR:] if report.longrepr else ""
            if report.when != "call" and outcome == "failed":
                text = f"(error in test {report.when})\n{text}"
            self._worst[report.nodeid] = (outcome, text)
        else:
            self._worst.setdefault(report.nodeid, prev)

    def pytest_runtest_logfinish(self, nodeid, location):
        outcome, text = self._worst.pop(nodeid, ("passed", ""))
        printed = self.session.client.printed if self.session is not None else ""
        if outcome != "passed" and printed and "/grader/hidden/" not in f"/{nodeid}":
            # like pytest's "Captured stdout call"; run.py never shows a hidden test's text
            text = f"{text}\n----- what your code printed during this test -----\n{printed}"
        exc = ""
        if outcome == "failed":
            exc = exception_line(text)
        extra = {}
        if self.session is not None:
            extra["sandbox_s"] = round(self.session.clock.test_spent, 4)
        if self.session is not None and outcome != "passed":
            # where it failed: the last of the student's functions the test called
            extra["called"] = [self.session.client.last_called] if self.session.client.last_called else []
        if self.session is not None and self.session.client.failed:
            extra["sandbox"] = self.session.client.failed
            extra["sandbox_category"] = self.session.client.failed_category or "your code failed in the sandbox"
        self._emit(event="end", nodeid=nodeid, outcome=outcome, text=text, exc=exc, **extra)

    session = None


class Judge:
    """pytest plugin: each test's sandbox deadline starts with it; a sandbox failure fails the test."""

    def __init__(self, session):
        self.session = session

    def pytest_runtest_setup(self, item):
        name = getattr(item, "originalname", None) or item.name.split("[")[0]
        self.session.clock.start_test(self.session.limits.get(name))
        self.session.client.failed = self.session.client.failed_category = None
        self.session.client.printed = ""
        self.session.client.last_called = ""
        self.session.client.changed_inputs = []

    stop_at_hidden_failure = False
    stopped = False

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        if self.stop_at_hidden_failure and rep.failed and \
                Path(str(item.path)).is_relative_to(self.session.lab.hidden_tests):
            item.session.shouldstop = "stopped at the first hidden failure (the course's mutant check)"
            self.stopped = True
        failed = self.session.client.failed
        if call.when == "call" and failed and rep.passed:
            # the test caught the sandbox's failure itself (a broad except, pytest.raises(Exception))
            rep.outcome = "failed"
            rep.longrepr = f"the sandbox failed during this test: {failed}"


def exception_line(text: str) -> str:
    """The 'E   SomeError: message' line of a pytest failure report (the exception, not the context)."""
    e_lines = [ln[4:].strip() for ln in text.splitlines() if ln.startswith("E   ")]
    for line in e_lines:
        if re.match(r"^[\w.]*(Error|Exception|Exit|Interrupt|Failed|Timeout)\b", line):
            return line[:300]
    return e_lines[0][:300] if e_lines else ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True)
    ap.add_argument("--results-fd", type=int, required=True)
    ap.add_argument("--timeout", type=int, required=True)
    ap.add_argument("--ini", required=True)
    ap.add_argument("--rootdir", required=True)
    ap.add_argument("--lab", required=True, help="the Lab's fields as JSON")
    ap.add_argument("--no-sandbox", action="store_true")
    ap.add_argument("--direct", action="store_true",
                    help="benchmark only (grader/bench/grade.py): import the module here, as before the sandbox")
    ap.add_argument("--stop-at-hidden-failure", action="store_true",
                    help="the course's mutant check: every public test, hidden tests up to the first failure")
    ap.add_argument("nodeids", nargs="+")
    args = ap.parse_args()

    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    nonce = sys.stdin.readline().strip()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    # A write past RLIMIT_FSIZE fails with EFBIG instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    from grader.judge.session import Session
    from grader.labs import Lab

    fields = json.loads(args.lab)
    lab = Lab(**{**fields, "base": Path(fields["base"]), "data": tuple(fields["data"]), "uses": tuple(fields["uses"])})
    reporter = Reporter(args.results_fd, nonce)
    if args.direct:             # the old, untrusted way, kept only to measure what the sandbox costs
        sys.path.insert(0, os.path.abspath(args.impl))
        pytest_args = [*PYTEST_OPTIONS, "-c", args.ini, "--rootdir", args.rootdir,
                       f"--timeout={args.timeout}", "--timeout-method=signal", *args.nodeids]
        return int(pytest.main(pytest_args, plugins=[reporter]))
    session = Session(lab, Path(args.impl), sandbox=not args.no_sandbox, early=True)
    reporter.session = session
    session.client.on_start = lambda starting: reporter._emit(event="alive", starting=starting)
    # pytest-timeout guards the judge's own code; the sandbox's deadline (the lab's timeout) comes first.
    pytest_args = [*PYTEST_OPTIONS, "-c", args.ini, "--rootdir", args.rootdir,
                   f"--timeout={args.timeout + JUDGE_SLACK_S}", "--timeout-method=signal", *args.nodeids]
    judge = Judge(session)
    judge.stop_at_hidden_failure = args.stop_at_hidden_failure
    try:
        code = int(pytest.main(pytest_args, plugins=[reporter, judge]))
    finally:
        reporter._emit(event="session", notes=session.notes, sandbox=session.sandbox_note(),
                       stopped=judge.stopped)
        session.close()
    # Every result is out and the sandbox is gone: skip the interpreter's teardown (with torch
    # loaded it costs most of a second per lab, for nothing).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
