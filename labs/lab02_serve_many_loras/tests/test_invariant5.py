"""Public tests, TODO 3-5: run a mixed batch and each row alone, then compare row by row.

No engine here: ``serve.ReplayLLM`` answers from a real recorded run (captured/), exactly as
the engine answered then.
"""
import pytest

from grader.labs import ROOT
from lab02_serve_many_loras import serve

CAPTURED = ROOT / "labs" / "lab02_serve_many_loras" / "captured"


def _setup(name):
    cap = serve.load_capture(name, CAPTURED)
    prompts = [r["prompt"] for r in cap["rows"]]
    # the adapters in the order of the ids the capture used (1, 2, 3)
    by_id = sorted({(r["lora_int_id"], r["adapter"]) for r in cap["rows"] if r["adapter"]})
    adapters = {name: f"/adapters/{name}" for _, name in by_id}
    reqs = serve.assign_lora_requests([r["adapter"] for r in cap["rows"]], adapters)
    return cap, prompts, reqs


@pytest.mark.points(2)
def test_run_batched_is_one_call_of_token_ids():
    cap, prompts, reqs = _setup("cpu-bug-max-loras-2")
    llm = serve.ReplayLLM(cap)
    got = serve.run_batched(llm, prompts, reqs, params=None)
    assert len(llm.calls) == 1, "all rows go to the engine in ONE generate call"
    assert got == cap["batched"]
    assert all(isinstance(t, int) for row in got for t in row), "token ids, not text"


@pytest.mark.points(2)
def test_run_one_by_one_is_one_call_per_row():
    cap, prompts, reqs = _setup("cpu-bug-max-loras-2")
    llm = serve.ReplayLLM(cap)
    got = serve.run_one_by_one(llm, prompts, reqs, params=None)
    assert [len(c) for c in llm.calls] == [1] * len(prompts)
    assert got == cap["alone"]


@pytest.mark.points(3)
def test_find_mismatches_on_the_buggy_run():
    cap = serve.load_capture("cpu-bug-max-loras-2", CAPTURED)
    found = serve.find_mismatches(cap["batched"], cap["alone"])
    base_rows = [r["row"] for r in cap["rows"] if r["adapter"] is None]
    assert [m.row for m in found] == base_rows, "with every slot busy, exactly the base rows go wrong"
    for m in found:
        b, a = cap["batched"][m.row], cap["alone"][m.row]
        assert b[:m.position] == a[:m.position] and b[m.position] != a[m.position]
        assert (m.batched_token, m.alone_token) == (b[m.position], a[m.position])


@pytest.mark.points(1)
def test_find_mismatches_with_a_free_slot():
    cap = serve.load_capture("cpu-free-slot-max-loras-4", CAPTURED)
    assert serve.find_mismatches(cap["batched"], cap["alone"]) == []


@pytest.mark.points(1)
def test_find_mismatches_rejects_ragged_input():
    with pytest.raises(ValueError, match="rows"):
        serve.find_mismatches([[1, 2], [3]], [[1, 2]])
