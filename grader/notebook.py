"""What a walkthrough notebook needs from the course: load the right implementation.

Every notebook starts with the same setup cell, which finds the course root and calls
``use_lab``. The implementation it loads, in order of preference:
  1. the lab package sitting next to the notebook (an nbgrader assignment or submission),
  2. the root named by the environment variable PHASE11_IMPL (tests use ``solutions``),
  3. the student's own ``labs/``.
"""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from grader.labs import ROOT, get


def impl_root(lab_name: str) -> Path:
    here = Path.cwd().resolve()
    if (here / lab_name).is_dir():
        return here
    env = os.environ.get("PHASE11_IMPL")
    if env:
        p = Path(env)
        return (p if p.is_absolute() else ROOT / p).resolve()
    return ROOT / "labs"


def use_lab(lab_name: str) -> ModuleType:
    """Put the implementation root first on sys.path and import the lab's module."""
    lab = get(lab_name)
    root = impl_root(lab.name)
    if not lab.stub_path(root).is_file():
        raise FileNotFoundError(f"{lab.name}: no {lab.stub_path(root)}; is PHASE11_IMPL right?")
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    for name in [m for m in sys.modules if m == lab.name or m.startswith(lab.name + ".")]:
        del sys.modules[name]          # re-running the cell picks up the student's edits
    module = importlib.import_module(f"{lab.name}.{lab.module}")
    print(f"using {lab.name}.{lab.module} from {root}")
    return module
