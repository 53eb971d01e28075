"""What there is to grade: every test function of a lab, with its points and hint.

Points and hints are read from the test files themselves (``@pytest.mark.points(3)``,
``@pytest.mark.hint("...")``) without importing them, so the grader, nbgrader and the
course's own checks share one source of truth, and a broken student module cannot
change what a test is worth.
"""
from __future__ import annotations

import ast
import threading
from dataclasses import dataclass
from pathlib import Path

from grader.labs import ROOT, Lab


@dataclass(frozen=True)
class TestItem:
    lab: str
    kind: str           # "public" or "hidden"
    file: Path
    name: str           # the test function; parametrized cases are graded as one item
    points: int
    hint: str

    @property
    def nodeid(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def rel(self) -> str:
        return f"{self.file.relative_to(ROOT)}::{self.name}"


class CatalogError(ValueError):
    pass


# `make grade` grades labs on threads, and CPython 3.11's ast.parse is not thread-safe: two parses
# at once can fail with "SystemError: AST constructor recursion depth mismatch" (CPython issue
# 106905; seen in this course's suite). One parse at a time; each takes milliseconds.
_PARSE = threading.Lock()


def _mark(dec: ast.expr) -> tuple[str, list] | None:
    # @pytest.mark.NAME(args...)
    if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
            and isinstance(dec.func.value, ast.Attribute) and dec.func.value.attr == "mark"):
        try:
            args = [ast.literal_eval(a) for a in dec.args]
        except ValueError:
            args = [None]
        return dec.func.attr, args
    return None


def test_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("test_*.py")) if directory.is_dir() else []


def parse_file(path: Path, lab: str, kind: str) -> list[TestItem]:
    try:
        text = path.read_text()
        with _PARSE:
            tree = ast.parse(text, filename=str(path))
    except SyntaxError as e:
        raise CatalogError(f"{path}: cannot parse test file: {e}") from None
    items = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            raise CatalogError(f"{path}: test classes are not supported ({node.name}); use functions")
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test")):
            continue
        marks = dict(m for m in (_mark(d) for d in node.decorator_list) if m)
        pts = marks.get("points")
        if not pts or not isinstance(pts[0], int) or pts[0] <= 0:
            raise CatalogError(f"{path}::{node.name} needs @pytest.mark.points(N) with N a positive int")
        hint = (marks.get("hint") or [""])[0] or ""
        if kind == "hidden" and not hint:
            raise CatalogError(f"{path}::{node.name}: hidden tests need @pytest.mark.hint('...')")
        items.append(TestItem(lab, kind, path, node.name, pts[0], hint))
    return items


def discover(lab: Lab, kinds: tuple[str, ...] = ("public", "hidden")) -> list[TestItem]:
    items: list[TestItem] = []
    dirs = {"public": lab.public_tests, "hidden": lab.hidden_tests}
    for kind in kinds:
        for f in test_files(dirs[kind]):
            items.extend(parse_file(f, lab.name, kind))
    seen: dict[str, TestItem] = {}
    for it in items:
        if it.name in seen:
            raise CatalogError(f"{lab.name}: test name {it.name!r} used twice "
                               f"({seen[it.name].file.name} and {it.file.name}); names must be unique per lab")
        seen[it.name] = it
    return items


def find(lab: Lab, name: str) -> TestItem:
    for it in discover(lab):
        if it.name == name:
            return it
    raise KeyError(f"{lab.name} has no test named {name!r}")
