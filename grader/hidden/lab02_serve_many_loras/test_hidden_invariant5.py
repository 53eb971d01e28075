"""Hidden tests, TODO 3-5."""
import pytest

from grader.labs import ROOT
from lab02_serve_many_loras import serve

CAPTURED = ROOT / "labs" / "lab02_serve_many_loras" / "captured"


def _requests(cap):
    by_id = sorted({(r["lora_int_id"], r["adapter"]) for r in cap["rows"] if r["adapter"]})
    adapters = {name: f"/adapters/{name}" for _, name in by_id}
    return [r["prompt"] for r in cap["rows"]], serve.assign_lora_requests([r["adapter"] for r in cap["rows"]], adapters)


@pytest.mark.points(2)
@pytest.mark.hint("every row keeps its place, base rows included, and each row's result is a list of token ids")
@pytest.mark.parametrize("name", ["cpu-fixed-max-loras-2", "cpu-free-slot-max-loras-4"])
def test_hidden_runs_keep_every_row(name):
    cap = serve.load_capture(name, CAPTURED)
    prompts, reqs = _requests(cap)
    b = serve.run_batched(serve.ReplayLLM(cap), prompts, reqs, None)
    llm = serve.ReplayLLM(cap)
    a = serve.run_one_by_one(llm, prompts, reqs, None)
    assert b == cap["batched"] and a == cap["alone"]
    assert [c for c in llm.calls] == [[r.lora_int_id if r else None] for r in reqs]


@pytest.mark.points(1)
@pytest.mark.hint("a batch and a list of rows must line up one to one")
def test_hidden_runs_reject_mismatched_lengths():
    cap = serve.load_capture("cpu-bug-max-loras-2", CAPTURED)
    prompts, reqs = _requests(cap)
    for fn in (serve.run_batched, serve.run_one_by_one):
        with pytest.raises(ValueError):
            fn(serve.ReplayLLM(cap), prompts, reqs[:-1], None)
        with pytest.raises(ValueError):
            fn(serve.ReplayLLM(cap), [], [], None)


@pytest.mark.points(2)
@pytest.mark.hint("one output can be a strict prefix of the other")
def test_hidden_mismatch_prefix():
    got = serve.find_mismatches([[5, 6, 7], [1, 2], [9]], [[5, 6], [1, 2], [9, 4, 4]])
    assert [(m.row, m.position, m.batched_token, m.alone_token) for m in got] == [
        (0, 2, 7, None), (2, 1, None, 4)]


@pytest.mark.points(2)
@pytest.mark.hint("report every differing row, and where each one first differs")
def test_hidden_mismatch_all_rows_first_position():
    b = [[1, 2, 3, 4], [7, 7, 7], [0], [3, 3]]
    a = [[1, 2, 9, 9], [7, 7, 7], [1], [3, 4]]
    got = serve.find_mismatches(b, a)
    assert [(m.row, m.position, m.batched_token, m.alone_token) for m in got] == [
        (0, 2, 3, 9), (2, 0, 0, 1), (3, 1, 3, 4)]


@pytest.mark.points(1)
@pytest.mark.hint("compare token ids; text is not what the engine is checked on")
def test_hidden_mismatch_needs_token_ids():
    with pytest.raises(ValueError):
        serve.find_mismatches(["abc"], ["abd"])
    with pytest.raises(ValueError):
        serve.find_mismatches([[1.0, 2.0]], [[1, 2]])


@pytest.mark.points(2)
@pytest.mark.hint("check the other runs too: the HF reference and the fixed engine")
def test_hidden_captured_runs_agree_where_they_should():
    hf = serve.load_capture("hf-reference", CAPTURED)["hf"]
    fixed = serve.load_capture("cpu-fixed-max-loras-2", CAPTURED)
    bug = serve.load_capture("cpu-bug-max-loras-2", CAPTURED)
    assert serve.find_mismatches(fixed["batched"], fixed["alone"]) == []
    assert serve.find_mismatches(fixed["batched"], hf) == []
    assert serve.find_mismatches(bug["alone"], hf) == []
    wrong = [m.row for m in serve.find_mismatches(bug["batched"], hf)]
    assert wrong == [r["row"] for r in bug["rows"] if r["adapter"] is None]
