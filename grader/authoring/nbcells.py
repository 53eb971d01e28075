"""The graded section at the end of each walkthrough notebook, generated from the test catalog.

    python -m grader.authoring.nbcells --check            exit 1 if any notebook's graded section is out of date
    python -m grader.authoring.nbcells --write            rewrite the graded section of every notebook
    python -m grader.authoring.nbcells --write --lab lab01 --notebook /tmp/copy.ipynb   one lab, another file

One locked nbgrader cell per test function, worth the points its ``@pytest.mark.points`` says
(read through ``grader.grading.catalog``, the same source the grader uses). A public test's cell is
``check("<lab>", "<test>")``; a hidden test's call sits between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS``, so nbgrader strips it from the student release and restores it when
it autogrades. Every generated cell carries the tag ``phase11-graded``: regenerating drops the
tagged cells and appends fresh ones, so the section is always exactly what the catalog says.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from pathlib import Path

import nbformat

from grader import labs
from grader.grading import catalog

TAG = "phase11-graded"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"

INTRO = """## Graded checks

Each cell below runs one of this lab's tests against your {modules},
exactly as `make grade` does, and is worth the points shown. A cell that passes prints nothing.
These cells are generated from the tests and locked: edits to them are undone when your work is
graded. Hidden tests run only when your instructor grades: their cells are empty or absent in your copy.
The notebook's first cell must have run (it puts the course's `grader` package on the path)."""

IMPORT = "from grader.nbcheck import check"


def _nbgrader_meta(grade_id: str, points: int | None) -> dict:
    meta = {"schema_version": 3, "grade": points is not None, "locked": True, "solution": False,
            "grade_id": grade_id}
    if points is not None:
        meta["points"] = points
    return meta


def _cell_id(key: str) -> str:
    # nbformat cell ids: 1-64 characters of [a-zA-Z0-9-_]; stable across regenerations.
    return "graded-" + hashlib.sha1(key.encode()).hexdigest()[:12]


def _cell(kind: str, source: str, grade_id: str, points: int | None = None) -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source=source)
    meta = {"tags": [TAG]}
    if points is not None:        # a graded, locked nbgrader cell
        meta.update({"deletable": False, "editable": False, "nbgrader": _nbgrader_meta(grade_id, points)})
    cell.metadata = nbformat.NotebookNode(meta)
    cell.id = _cell_id(grade_id)
    return cell


def cell_source(item: catalog.TestItem) -> str:
    # Each cell imports `check` itself: it still works when nbgrader puts back a deleted cell.
    call = f'{IMPORT}\ncheck("{item.lab}", "{item.name}")'
    pts = f"{item.points} point{'s' if item.points != 1 else ''}"
    if item.kind == "public":
        return f"# public test {item.name} ({pts})\n{call}"
    return (f"# hidden test {item.name} ({pts}): it runs when your instructor grades\n"
            f"{HIDDEN_BEGIN}\n{call}\n{HIDDEN_END}")


def grade_id(item: catalog.TestItem) -> str:
    return grade_id_of(item.name)


def grade_id_of(test_name: str) -> str:
    return f"check_{test_name}"


def _your_modules(lab: labs.Lab) -> str:
    files = [f"`{f}`" for f in lab.files()]
    return f"module ({files[0]})" if len(files) == 1 else f"modules ({', '.join(files[:-1])} and {files[-1]})"


def section(lab: labs.Lab) -> list[nbformat.NotebookNode]:
    """The generated cells for ``lab``: an intro, then one graded cell per test (public first)."""
    items = catalog.discover(lab, ("public", "hidden") if lab.hidden_tests.is_dir() else ("public",))
    cells = [_cell("markdown", INTRO.format(modules=_your_modules(lab)), "graded_checks_intro")]
    cells += [_cell("code", cell_source(it), grade_id(it), it.points) for it in items]
    return cells


def is_generated(cell) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def apply(nb: nbformat.NotebookNode, lab: labs.Lab) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose graded section (tagged cells, wherever they are) is regenerated at the end."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not is_generated(c)] + section(lab)
    if (out.nbformat, out.nbformat_minor) < (4, 5):
        for c in out.cells:
            c.pop("id", None)
    return out


def in_sync(nb: nbformat.NotebookNode, lab: labs.Lab) -> bool:
    def strip(cells):
        return [{k: c.get(k) for k in ("cell_type", "source", "metadata", "id")} for c in cells]
    return strip(nb.cells) == strip(apply(nb, lab).cells)


def strip_hidden(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every hidden-test region removed (what a student copy must contain)."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if HIDDEN_BEGIN not in cell.get("source", ""):
            continue
        keep, inside = [], False
        for line in cell.source.split("\n"):
            if HIDDEN_BEGIN in line:
                inside = True
            elif HIDDEN_END in line:
                inside = False
            elif not inside:
                keep.append(line)
        cell.source = "\n".join(keep)
    return out


def hidden_test_names(lab: labs.Lab) -> list[str]:
    return [it.name for it in catalog.discover(lab, ("hidden",))]


def _targets(args) -> list[tuple[labs.Lab, Path]]:
    chosen = [labs.get(args.lab)] if args.lab else labs.present()
    if args.notebook:
        if len(chosen) != 1:
            raise SystemExit("nbcells: --notebook needs --lab")
        return [(chosen[0], args.notebook)]
    return [(lab, lab.notebook) for lab in chosen]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader.authoring.nbcells", description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the graded section in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if a graded section is out of date")
    ap.add_argument("--lab", help="one lab (package or short name); default: every lab present")
    ap.add_argument("--notebook", type=Path, help="with --lab: this notebook instead of notebooks/<lab>.ipynb")
    args = ap.parse_args(argv)

    stale = []
    for lab, path in _targets(args):
        if not path.is_file():
            print(f"nbcells: {lab.name}: no notebook at {path} (skipped)")
            continue
        nb = nbformat.read(path, as_version=4)
        if in_sync(nb, lab):
            print(f"nbcells: {path.name}: graded section up to date")
            continue
        if args.check:
            stale.append(path)
            print(f"nbcells: {path.name}: graded section is out of date")
        else:
            nbformat.write(apply(nb, lab), path)
            print(f"nbcells: {path.name}: graded section rewritten ({len(section(lab)) - 1} graded cells)")
    if stale:
        print("run `python -m grader.authoring.nbcells --write` to regenerate it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
