"""Plausible wrong answers, one module per lab (``grader/mutants/<lab>.py`` with ``MUTANTS``).

A mutant is a textual edit of the reference module. The course's suite applies each one to a
copy of ``solutions/`` and requires the grader to score it below full marks: proof that the
hidden tests catch that mistake.
"""
from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.labs import ROOT, Lab


@dataclass(frozen=True)
class Mutant:
    name: str
    old: str            # text of the reference module; must occur exactly once
    new: str
    why: str            # the student's mistake this stands for
    public_passes: bool = True   # False when a public test already catches it


def traps_for(lab: Lab) -> dict[str, tuple[str, ...]]:
    """The lab page's trap-table rows (first cell) -> names of the mutants that stand for them."""
    try:
        mod = importlib.import_module(f"grader.mutants.{lab.name}")
    except ModuleNotFoundError:
        return {}
    return dict(getattr(mod, "TRAPS", {}))


def mutants_for(lab: Lab) -> list[Mutant]:
    try:
        mod = importlib.import_module(f"grader.mutants.{lab.name}")
    except ModuleNotFoundError:
        return []
    return list(mod.MUTANTS)


def apply(lab: Lab, mutant: Mutant, dest: Path, source_root: Path = ROOT / "solutions") -> Path:
    """Copy the reference implementation root to ``dest`` and apply ``mutant`` to the one module of
    ``lab`` whose text holds ``mutant.old`` (exactly once in all the lab's modules)."""
    shutil.copytree(source_root, dest, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    texts = {path: path.read_text() for path in lab.stub_paths(dest)}
    count = sum(text.count(mutant.old) for text in texts.values())
    if count != 1:
        raise ValueError(f"mutant {lab.name}/{mutant.name}: 'old' text occurs {count} times in "
                         f"{' + '.join(lab.files())} (must be exactly once); did the reference change?")
    path = next(p for p, text in texts.items() if mutant.old in text)
    path.write_text(texts[path].replace(mutant.old, mutant.new))
    return dest
