"""Public tests, TODO 1-2: one LoRARequest per adapter row, and the engine's arguments."""
import pytest

from lab02_serve_many_loras import serve

ADAPTERS = {"shout": "/m/adapters/shout", "count": "/m/adapters/count", "define": "/m/adapters/define"}


@pytest.mark.points(2)
def test_assign_gives_base_rows_none_and_adapter_rows_ids():
    rows = [None, "shout", "count", "define", None, "count"]
    reqs = serve.assign_lora_requests(rows, ADAPTERS)
    assert len(reqs) == len(rows)
    assert reqs[0] is None and reqs[4] is None, "a base row carries no LoRARequest"
    got = [(r.lora_name, r.lora_int_id, r.lora_path) for r in reqs if r is not None]
    assert got == [("shout", 1, "/m/adapters/shout"), ("count", 2, "/m/adapters/count"),
                   ("define", 3, "/m/adapters/define"), ("count", 2, "/m/adapters/count")]


@pytest.mark.points(1)
def test_assign_names_an_unknown_adapter():
    with pytest.raises(KeyError, match="typo"):
        serve.assign_lora_requests(["shout", "typo"], ADAPTERS)


@pytest.mark.points(2)
def test_engine_kwargs_fill_in_and_check():
    kw = serve.engine_kwargs(2, 8, model="/m/base")
    assert kw["enable_lora"] is True
    assert (kw["max_loras"], kw["max_lora_rank"], kw["max_cpu_loras"]) == (2, 8, 2)
    assert kw["model"] == "/m/base" and kw["dtype"] == "float32"
    kw = serve.engine_kwargs(2, 16, 5, model="/m/base", max_num_seqs=32)
    assert (kw["max_cpu_loras"], kw["max_num_seqs"]) == (5, 32)
    with pytest.raises(ValueError, match="max_lora_rank"):
        serve.engine_kwargs(2, 12, model="/m/base")          # not a rank vLLM accepts
    with pytest.raises(ValueError, match="max_cpu_loras"):
        serve.engine_kwargs(4, 8, 3, model="/m/base")        # host cache smaller than the slots
