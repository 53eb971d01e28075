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

from grader.labs import ROOT, Lab, get


def impl_root(lab_name: str) -> Path:
    here = Path.cwd().resolve()
    if (here / lab_name).is_dir():
        return here
    env = os.environ.get("PHASE11_IMPL")
    if env:
        p = Path(env)
        return (p if p.is_absolute() else ROOT / p).resolve()
    return ROOT / "labs"


def use_lab(lab_name: str, *modules: str):
    """Put the implementation root first on sys.path and import the lab's module(s), fresh.

    Returns the module where the lab has one (or one is named), else a tuple in the lab's order
    (lab 04: ``sc, wl = use_lab("lab04_adapter_slot_cache")``). All of the lab's modules are
    re-imported together, so a later module sees the same earlier one the notebook holds."""
    lab = get(lab_name)
    root = impl_root(lab.name)
    wanted = modules or lab.modules
    loaded = import_lab(lab, root, hint="is PHASE11_IMPL right?")
    print(f"using {', '.join(f'{lab.name}.{m}' for m in wanted)} from {root}")
    out = tuple(loaded[m] for m in wanted)
    return out[0] if len(out) == 1 else out


def import_lab(lab: Lab, root: Path, hint: str = "") -> dict:
    """Import all of ``lab``'s modules from ``root`` afresh (in-process: notebooks and benchmarks,
    never the grader); returns them by module name."""
    missing = [str(p) for p in lab.stub_paths(root) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{lab.name}: no {', '.join(missing)}" + (f"; {hint}" if hint else ""))
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    for name in [m for m in sys.modules if m == lab.name or m.startswith(lab.name + ".")]:
        del sys.modules[name]          # re-running picks up the student's edits
    return {m: importlib.import_module(f"{lab.name}.{m}") for m in lab.modules}
