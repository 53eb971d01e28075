"""python -m grader.authoring.reset LAB [MODULE] — put a lab's stub module(s) back as they were handed out.

Without MODULE every module of the lab is reset (lab 04 has two: slot_cache and workloads).
Your current file is kept first as ``<module>.py.bak-<time>`` next to it: nothing is lost.
The pristine stub comes from the solution (maintainers' copy) or from the commit that first
added the file (a student's clone of the release).
"""
from __future__ import annotations

import subprocess
import sys
import time

from grader.labs import LABS, ROOT, get


def pristine(lab, module: str) -> str:
    if lab.stub_path(ROOT / "solutions", module).exists():     # maintainers' copy: regenerate from the solution
        from grader.authoring import stubs

        return stubs.generated(lab, module)
    rel = str(lab.stub_path(ROOT / "labs", module).relative_to(ROOT))
    log = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", rel],
                         cwd=ROOT, capture_output=True, text=True)
    first = log.stdout.split()[-1:] if log.returncode == 0 else []
    if not first:
        raise RuntimeError(f"cannot find the original {rel}: this copy has neither solutions/ nor git history")
    return subprocess.run(["git", "show", f"{first[0]}:{rel}"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def reset(lab, module: str, text: str) -> None:
    stub = lab.stub_path(ROOT / "labs", module)
    if stub.exists() and stub.read_text() == text:
        print(f"{stub.relative_to(ROOT)} is already the original stub; nothing to do")
        return
    if stub.exists():
        backup = stub.with_name(f"{stub.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        backup.write_text(stub.read_text())
        print(f"your version is saved as {backup.relative_to(ROOT)}")
    stub.write_text(text)
    print(f"restored {stub.relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: make reset LAB=<name> [MODULE=<module>]   (labs: "
              + "; ".join(f"{lab.name} ({', '.join(lab.modules)})" for lab in LABS) + ")", file=sys.stderr)
        return 2
    try:
        lab = get(argv[0])
        modules = argv[1:2] or list(lab.modules)
        for module in modules:
            lab.stub_path(ROOT, module)          # a module of this lab, or KeyError naming them
        texts = {m: pristine(lab, m) for m in modules}     # all found before anything is written
    except (KeyError, RuntimeError) as e:
        print(f"reset: {e.args[0]}", file=sys.stderr)
        return 2
    for module, text in texts.items():
        reset(lab, module, text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
