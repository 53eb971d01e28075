"""The course's reference modules (solutions/), loaded privately for the grader's own use.

A lab's modules import each other relatively (lab 04's ``workloads`` takes part 1's cache from
``.slot_cache``), so a reference module is loaded inside a private package,
``_p11_reference_<lab>``: nothing named like the student's package is ever touched.
"""
from __future__ import annotations

import importlib
import sys
import types

from grader.labs import ROOT, Lab


def load(lab: Lab, module: str):
    """solutions/<lab>/<module>.py as a module, or None where this copy of the course has none."""
    folder = ROOT / "solutions" / lab.name
    if not (folder / f"{module}.py").is_file():
        return None
    package = f"_p11_reference_{lab.name}"
    if package not in sys.modules:
        pkg = types.ModuleType(package)
        pkg.__path__ = [str(folder)]
        sys.modules[package] = pkg
    return importlib.import_module(f"{package}.{module}")
