"""Hidden tests, TODO 1-2."""
import pytest

from lab02_serve_many_loras import serve

ADAPTERS = {"b": "/x/b", "a": "/x/a", "c": "/x/c"}


@pytest.mark.points(2)
@pytest.mark.hint("an adapter's id depends on the adapters mapping, not on which rows happen to use it")
def test_hidden_ids_stable_across_calls():
    one = serve.assign_lora_requests(["c"], ADAPTERS)
    two = serve.assign_lora_requests(["a", "c", None, "b"], ADAPTERS)
    assert one[0].lora_int_id == two[1].lora_int_id == 3
    assert [r.lora_int_id for r in two if r] == [2, 3, 1]


@pytest.mark.points(2)
@pytest.mark.hint("vLLM reserves one id for 'no adapter'")
def test_hidden_ids_start_at_one():
    reqs = serve.assign_lora_requests(["b", "a"], ADAPTERS)
    assert min(r.lora_int_id for r in reqs) == 1
    assert all(r.lora_int_id >= 1 for r in reqs)


@pytest.mark.points(1)
@pytest.mark.hint("a row is an adapter name or None; anything else is a mistake to name")
@pytest.mark.parametrize("rows, adapters, exc", [
    ([3], ADAPTERS, ValueError),
    ("abc", ADAPTERS, ValueError),
    (["a"], {"a": ""}, ValueError),
    (["a"], {"": "/x"}, ValueError),
    (["zzz"], ADAPTERS, KeyError),
])
def test_hidden_assign_bad_input(rows, adapters, exc):
    with pytest.raises(exc):
        serve.assign_lora_requests(rows, adapters)


@pytest.mark.points(1)
@pytest.mark.hint("base rows stay base rows even when every adapter is known")
def test_hidden_all_base_rows():
    assert serve.assign_lora_requests([None, None], ADAPTERS) == [None, None]
    assert serve.assign_lora_requests([], ADAPTERS) == []


@pytest.mark.points(2)
@pytest.mark.hint("check every argument the engine would refuse, including its type")
@pytest.mark.parametrize("args, kwargs", [
    ((0, 8), {}),
    ((True, 8), {}),
    ((2, 0), {}),
    ((2, 24), {}),
    ((2, 8, 1), {}),
    ((2.0, 8), {}),
])
def test_hidden_engine_kwargs_rejects(args, kwargs):
    with pytest.raises(ValueError):
        serve.engine_kwargs(*args, model="/m", **kwargs)


@pytest.mark.points(1)
@pytest.mark.hint("the host cache defaults to the number of slots, and extra arguments pass through")
def test_hidden_engine_kwargs_defaults():
    kw = serve.engine_kwargs(3, 64, model="/m", max_num_seqs=7, enforce_eager=True)
    assert kw["max_cpu_loras"] == 3 and kw["max_lora_rank"] == 64
    assert kw["max_num_seqs"] == 7 and kw["enforce_eager"] is True
    assert kw["enable_lora"] is True and kw["seed"] == 0
    assert kw.get("distributed_executor_backend") == "uni"
    assert "distributed_executor_backend" not in serve.engine_kwargs(1, 8, model="/m", single_process=False)
