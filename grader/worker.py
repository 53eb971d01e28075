"""The process that runs one lab's tests against untrusted student code.

Started by grader/run.py, never by hand. It reads a nonce from stdin, then reports every
test's start and outcome as JSON lines on a private pipe (``--results-fd``). Whatever the
student code prints goes to stdout/stderr, which the parent throws away; anything that kills
this process (os._exit, a segfault, the memory cap) is noticed and reported by the parent.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys

import pytest

MAX_REPR = 4000
# How every graded test runs, here and in a notebook's check() (grader/nbcheck.py): no conftest
# files (a student's conftest.py cannot hook in), no sys.path changes by pytest, no cache written.
PYTEST_OPTIONS = ("-q", "-p", "no:cacheprovider", "--noconftest", "--import-mode=importlib",
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
        exc = ""
        if outcome == "failed":
            exc = exception_line(text)
        self._emit(event="end", nodeid=nodeid, outcome=outcome, text=text, exc=exc)


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
    ap.add_argument("nodeids", nargs="+")
    args = ap.parse_args()

    nonce = sys.stdin.readline().strip()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    # A write past RLIMIT_FSIZE fails with EFBIG instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    # The implementation under test comes first on the path: labs/, solutions/ or any DIR.
    sys.path.insert(0, os.path.abspath(args.impl))
    os.environ["PHASE11_IMPL"] = os.path.abspath(args.impl)
    reporter = Reporter(args.results_fd, nonce)
    pytest_args = [*PYTEST_OPTIONS, "-c", args.ini, "--rootdir", args.rootdir,
                   f"--timeout={args.timeout}", "--timeout-method=signal", *args.nodeids]
    return int(pytest.main(pytest_args, plugins=[reporter]))


if __name__ == "__main__":
    sys.exit(main())
