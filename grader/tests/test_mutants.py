"""Every plausible wrong answer in grader/mutants/ scores below full marks.

Each mutant is a one-spot edit of the reference; grading it proves the hidden tests catch
that mistake. Where a mutant says ``public_passes``, the public tests must all pass on it:
the mistake is one only the hidden tests can see.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.labs import LABS
from grader.mutants import apply, mutants_for
from grader.run import grade_lab

CASES = [(lab, m) for lab in LABS for m in mutants_for(lab)]


@pytest.fixture(scope="module")
def graded_mutants(tmp_path_factory):
    def one(case):
        lab, m = case
        impl = apply(lab, m, tmp_path_factory.mktemp(f"{lab.short}-{m.name}"))
        return (lab.name, m.name), grade_lab(lab, impl)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, CASES))


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
