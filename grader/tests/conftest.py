"""Shared fixtures for the course's own suite: one grading run per implementation root."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.labs import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}


def run_grader(*args: str, cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def graded(tmp: Path, impl: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp / "grade.json"
    proc = run_grader("--impl", impl, "--json", str(out), *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


@pytest.fixture(scope="session")
def solutions_report(tmp_path_factory):
    return graded(tmp_path_factory.mktemp("solutions"), "solutions")


@pytest.fixture(scope="session")
def stubs_report(tmp_path_factory):
    return graded(tmp_path_factory.mktemp("stubs"), "labs")


# The longest files first: with `make test`'s two workers (one file each at a time), the two
# longest start at once instead of one of them last (measured alone: the mutants ~150 s, the
# nbgrader course ~130 s, the real engine ~75 s, the notebooks ~60 s).
LONGEST_FIRST = ("test_mutants.py", "test_nbgrader_workflow.py", "test_lab02_engine.py", "test_notebooks.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)         # stable: the order inside each file is kept
