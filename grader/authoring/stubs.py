"""Generate each lab's student stub from its reference solution (one source of truth).

    python -m grader.authoring.stubs           check: every labs/<lab>/<module>.py equals its generated stub
                                     (a lab may have several modules; TODO numbers run across them)
    python -m grader.authoring.stubs --write   write the stubs (refuses to overwrite a stub with uncommitted edits)

In the solution, the code a student writes sits between ``# BEGIN SOLUTION TODO n`` and
``# END SOLUTION``; the stub gets a ``raise NotImplementedError`` naming the lab, the TODO
and the function instead. ``# BEGIN SOLUTION-ONLY`` / ``# END SOLUTION-ONLY`` blocks vanish.
"""
from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path

from grader.labs import LABS, ROOT, Lab

BEGIN = re.compile(r"^(?P<indent>[ ]*)# BEGIN SOLUTION TODO (?P<todo>\d+)\s*$")
END = re.compile(r"^[ ]*# END SOLUTION\s*$")
BEGIN_ONLY = re.compile(r"^[ ]*# BEGIN SOLUTION-ONLY\s*$")
END_ONLY = re.compile(r"^[ ]*# END SOLUTION-ONLY\s*$")
DEF = re.compile(r"^(?P<indent>[ ]*)(?:async\s+)?def\s+(?P<name>\w+)\s*\(")
CLASS = re.compile(r"^(?P<indent>[ ]*)class\s+(?P<name>\w+)\b")


class StubError(ValueError):
    pass


def _enclosing(lines: list[str], i: int, indent: int) -> str:
    """Dotted name of the function (and class) around line ``i``."""
    names: list[str] = []
    for line in reversed(lines[:i]):
        m = DEF.match(line) or CLASS.match(line)
        if m and len(m["indent"]) < indent:
            names.insert(0, m["name"])
            indent = len(m["indent"])
            if indent == 0:
                break
    return ".".join(names) or "<module>"


def make_stub(lab: Lab, source: str, where: str = "solution") -> str:
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    todos: list[int] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = BEGIN.match(line)
        if BEGIN_ONLY.match(line):
            j = next((k for k in range(i + 1, len(lines)) if END_ONLY.match(lines[k])), None)
            if j is None:
                raise StubError(f"{where}:{i + 1}: SOLUTION-ONLY block is never closed")
            i = j + 1
            continue
        if m:
            j = next((k for k in range(i + 1, len(lines)) if END.match(lines[k])), None)
            if j is None:
                raise StubError(f"{where}:{i + 1}: solution region TODO {m['todo']} is never closed")
            if any(BEGIN.match(x) for x in lines[i + 1:j]):
                raise StubError(f"{where}:{i + 1}: solution regions cannot nest")
            todo = int(m["todo"])
            func = _enclosing(lines, i, len(m["indent"]))
            todos.append(todo)
            msg = f"{lab.name} TODO {todo}: {func} — see labs/{lab.name}/README.md"
            out.append(f'{m["indent"]}raise NotImplementedError("{msg}")\n')
            i = j + 1
            continue
        if END.match(line) or END_ONLY.match(line):
            raise StubError(f"{where}:{i + 1}: END marker without a BEGIN")
        out.append(line)
        i += 1
    if not todos:
        raise StubError(f"{where}: no '# BEGIN SOLUTION TODO n' region: nothing for the student to do")
    return "".join(out)


def solution_path(lab: Lab, module: str) -> Path:
    return lab.stub_path(ROOT / "solutions", module)


def generated(lab: Lab, module: str) -> str:
    src = solution_path(lab, module)
    return make_stub(lab, src.read_text(), where=str(src.relative_to(ROOT)))


def declared_path(lab: Lab, module: str) -> Path:
    """The judge's copy of the stub: the course's declarations it trusts (grader/judge/proxy.py).

    The student edits labs/<lab>/<module>.py; the judge never reads that file, only this one.
    """
    return lab.declared_path(module, ROOT)


def todo_numbers(lab: Lab) -> dict[str, list[int]]:
    """The TODO numbers in each of the lab's solution modules, in file order."""
    return {m: [int(b["todo"]) for line in solution_path(lab, m).read_text().splitlines() if (b := BEGIN.match(line))]
            for m in lab.modules}


def out_of_sync(lab: Lab) -> str:
    """'' when every committed stub and the judge's copy equal the generated stubs, else a short diff."""
    for module in lab.modules:
        want = generated(lab, module)
        for stub in (lab.stub_path(ROOT / "labs", module), declared_path(lab, module)):
            have = stub.read_text() if stub.exists() else ""
            if want != have:
                diff = difflib.unified_diff(have.splitlines(), want.splitlines(), str(stub.relative_to(ROOT)),
                                            "generated from " + str(solution_path(lab, module).relative_to(ROOT)),
                                            lineterm="")
                return "\n".join(list(diff)[:40])
    return ""


def _has_local_edits(path: Path) -> bool:
    if not path.exists():
        return False
    r = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", str(path)], cwd=ROOT, capture_output=True)
    return r.returncode == 1


def main(argv: list[str]) -> int:
    labs = [lab for lab in LABS if all(solution_path(lab, m).exists() for m in lab.modules)]
    if "--write" in argv:
        for lab in labs:
            for module in lab.modules:
                if _write(lab, module, force="--force" in argv):
                    return 1
        return 0
    bad = [(lab, d) for lab in labs if (d := out_of_sync(lab))]
    for lab, d in bad:
        print(f"{lab.name}: stub out of sync with the solution (run `make stubs`)\n{d}\n")
    if not bad:
        print(f"stubs in sync for {len(labs)} lab(s)")
    return 1 if bad else 0


def _write(lab: Lab, module: str, force: bool) -> int:
    """Write one module's stub and the judge's copy; 1 where a stub with local edits was kept."""
    stub = lab.stub_path(ROOT / "labs", module)
    text = generated(lab, module)
    decl = declared_path(lab, module)
    if not decl.exists() or decl.read_text() != text:
        decl.parent.mkdir(parents=True, exist_ok=True)
        decl.write_text(text)
        print(f"wrote {decl.relative_to(ROOT)}")
    if stub.exists() and stub.read_text() == text:
        return 0
    if _has_local_edits(stub) and not force:
        print(f"refusing to overwrite {stub.relative_to(ROOT)}: it has uncommitted edits "
              "(commit or move them, or pass --force)", file=sys.stderr)
        return 1
    stub.write_text(text)
    print(f"wrote {stub.relative_to(ROOT)}")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
