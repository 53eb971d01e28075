"""What one lab's grading produced: per-test results, the run, and the stub's own TODO messages.

Shared by run.py (which fills them in) and report.py (which turns them into the table and JSON).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from grader.grading import catalog
from grader.labs import Lab


@dataclass
class TestResult:
    item: catalog.TestItem
    passed: bool = False
    reason: str = "not run"          # one line, safe to show (hints only for hidden tests)
    detail: str = ""                 # full pytest report, public tests only
    todo: str = ""                   # a stub's NotImplementedError message, if that is why it failed
    called: tuple = ()               # where failing cases failed: the last student function each called
    sandbox_s: float = 0.0           # the slowest case's time inside calls into the sandbox
    cases: int = 0


@dataclass
class LabRun:
    lab: Lab
    results: list[TestResult]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def stub_todos(lab: Lab) -> set[str]:
    """The exact NotImplementedError messages of the lab's stub modules (grader/declared/)."""
    found: set[str] = set()
    for module in lab.modules:
        try:
            text = lab.declared_path(module).read_text()
        except OSError:
            continue
        found |= set(re.findall(r"""NotImplementedError\((?:"|')(.*? TODO \d+:.*?)(?:"|')\)""", text))
    return found
