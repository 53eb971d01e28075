"""python -m grader.reset LAB — put one lab's stub back as it was handed out.

Your current file is kept first as ``<module>.py.bak-<time>`` next to it: nothing is lost.
The pristine stub comes from the solution (maintainers' copy) or from the commit that first
added the file (a student's clone of the release).
"""
from __future__ import annotations

import subprocess
import sys
import time

from grader.labs import LABS, ROOT, get


def pristine(lab) -> str:
    if lab.stub_path(ROOT / "solutions").exists():     # maintainers' copy: regenerate from the solution
        from grader import stubs

        return stubs.generated(lab)
    rel = str(lab.stub_path(ROOT / "labs").relative_to(ROOT))
    log = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", rel],
                         cwd=ROOT, capture_output=True, text=True)
    first = log.stdout.split()[-1:] if log.returncode == 0 else []
    if not first:
        raise RuntimeError(f"cannot find the original {rel}: this copy has neither solutions/ nor git history")
    return subprocess.run(["git", "show", f"{first[0]}:{rel}"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: make reset LAB=<name>   (one of: " + ", ".join(lab.name for lab in LABS) + ")",
              file=sys.stderr)
        return 2
    try:
        lab = get(argv[0])
        text = pristine(lab)
    except (KeyError, RuntimeError) as e:
        print(f"reset: {e.args[0]}", file=sys.stderr)
        return 2
    stub = lab.stub_path(ROOT / "labs")
    if stub.exists() and stub.read_text() == text:
        print(f"{stub.relative_to(ROOT)} is already the original stub; nothing to do")
        return 0
    if stub.exists():
        backup = stub.with_name(f"{stub.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        backup.write_text(stub.read_text())
        print(f"your version is saved as {backup.relative_to(ROOT)}")
    stub.write_text(text)
    print(f"restored {stub.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
