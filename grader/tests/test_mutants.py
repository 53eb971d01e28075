"""Every plausible wrong answer in grader/mutants/ scores below full marks.

Each mutant is a one-spot edit of the reference; grading it proves the hidden tests catch
that mistake. Where a mutant says ``public_passes``, the public tests must all pass on it:
the mistake is one only the hidden tests can see.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.grading.run import grade_lab
from grader.labs import LABS
from grader.mutants import apply, mutants_for, traps_for

CASES = [(lab, m) for lab in LABS for m in mutants_for(lab)]


@pytest.fixture(scope="module")
def graded_mutants(tmp_path_factory):
    # every folder is made here, before the threads start: tmp_path_factory makes its base folder
    # on first use and is not thread-safe (two threads at once: FileExistsError, in CI)
    where = {(lab.name, m.name): tmp_path_factory.mktemp(f"{lab.short}-{m.name}") for lab, m in CASES}

    def one(case):
        lab, m = case
        try:                  # a mutant that no longer applies fails its own tests, not everyone's
            impl = apply(lab, m, where[(lab.name, m.name)])
        except ValueError as e:
            return (lab.name, m.name), e
        # hidden tests up to the first that fails; every public test where a check below reads
        # them (the mutant is said to pass them, or the trap table names it), else none
        needs_public = m.public_passes or m.name in trapped[lab.name]
        return (lab.name, m.name), grade_lab(lab, impl, stop_at_hidden_failure=True, hidden_only=not needs_public)
    trapped = {lab.name: {name for names in traps_for(lab).values() for name in names} for lab in LABS}
    with ThreadPoolExecutor(max_workers=2) as pool:
        return _Graded(pool.map(one, CASES))


class _Graded(dict):
    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, Exception):
            pytest.fail(str(value))
        return value


def test_every_lab_has_at_least_four_mutants():
    for lab in LABS:
        assert len(mutants_for(lab)) >= 4, f"{lab.name}: write more plausible wrong answers"


@pytest.mark.parametrize("lab, mutant", CASES, ids=[f"{lab.short}-{m.name}" for lab, m in CASES])
def test_mutant_scores_below_full_marks(graded_mutants, lab, mutant):
    s = graded_mutants[(lab.name, mutant.name)]
    assert s["score"] < s["max_score"], f"{lab.name}: mutant {mutant.name!r} ({mutant.why}) got full marks"
    assert s["hidden"]["passed"] < s["hidden"]["total"], f"no hidden test caught {mutant.name!r}"
    if mutant.public_passes:
        failed = [t["name"] for t in s["tests"] if t["kind"] == "public" and not t["passed"]]
        assert not failed, f"{mutant.name!r} is marked public_passes but public tests fail: {failed}"


def _trap_rows(lab) -> dict[str, str]:
    """The rows of the trap table on ``lab``'s page: first cell -> second cell."""
    page = lab.page.read_text()
    part = page.split("## Traps", 1)
    if len(part) < 2:
        return {}
    rows = {}
    for line in part[1].split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2 and cells[0] != "trap" and not set(cells[0]) <= set("-: "):
            rows[cells[0]] = cells[1]
    return rows


TRAP_LABS = [lab for lab in LABS if _trap_rows(lab)]


@pytest.mark.parametrize("lab", TRAP_LABS, ids=lambda lab: lab.short)
def test_every_trap_row_is_backed_by_a_mutant_its_tests_kill(graded_mutants, lab):
    rows, traps = _trap_rows(lab), traps_for(lab)
    names = {m.name for m in mutants_for(lab)}
    assert set(traps) == set(rows), (f"{lab.name}: TRAPS and the page's trap table differ: "
                                     f"page only {sorted(set(rows) - set(traps))}, "
                                     f"TRAPS only {sorted(set(traps) - set(rows))}")
    for trap, cell in rows.items():
        assert traps[trap] and set(traps[trap]) <= names, f"{trap!r}: unknown mutants {traps[trap]}"
        named = set(re.findall(r"`(test_\w+)`", cell)) if "public" in cell else set()
        killed_by = set()
        for m in traps[trap]:
            s = graded_mutants[(lab.name, m)]
            failed = {t["name"].split("[")[0] for t in s["tests"] if t["kind"] == "public" and not t["passed"]}
            if named:
                assert failed & named, f"{trap!r}: mutant {m} fails none of the public tests named {sorted(named)}"
                killed_by |= failed & named
            elif "hidden only" in cell:
                assert not failed, f"{trap!r} says hidden only, but mutant {m} fails public {sorted(failed)}"
        assert killed_by == named, f"{trap!r}: named public tests that kill none of its mutants: {sorted(named - killed_by)}"
