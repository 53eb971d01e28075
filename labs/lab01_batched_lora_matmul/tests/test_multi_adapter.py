"""Public tests, TODO 5-7: a batch whose rows use different adapters (id 0 = no adapter)."""
import pytest
import torch

from grader.testing import ProductLog, assert_close
from lab01_batched_lora_matmul import batched_lora as bl

# in = 2, out = 2, W = identity: the base product returns x itself, so only deltas show.
W = torch.eye(2)
adapters = {
    7: bl.LoRAAdapter(A=torch.tensor([[1.0, 0.0]]), B=torch.tensor([[1.0], [1.0]]), scaling=1.0),   # r = 1
    3: bl.LoRAAdapter(A=torch.eye(2), B=torch.tensor([[0.0, 1.0], [1.0, 0.0]]), scaling=2.0),      # r = 2: swap, x2
}
x = torch.tensor([[1.0, 2.0],
                  [3.0, 4.0],
                  [5.0, 6.0],
                  [7.0, 8.0],
                  [9.0, 10.0]])
ids = torch.tensor([7, 0, 3, 7, 0])                 # unsorted, with two base rows
expected = torch.tensor([
    [1.0 + 1, 2.0 + 1],          # id 7: adds x[0] to both outputs
    [3.0, 4.0],                  # base
    [5.0 + 12, 6.0 + 10],        # id 3: adds 2 * (x[1], x[0])
    [7.0 + 7, 8.0 + 7],          # id 7
    [9.0, 10.0],                 # base
])


@pytest.mark.points(1)
def test_loop_small_batch_by_hand():
    assert_close(bl.apply_multi_lora_loop(x, W, adapters, ids), expected, what="apply_multi_lora_loop")


@pytest.mark.points(1)
def test_segments_small_batch_by_hand():
    seg = bl.segment_by_adapter(ids)
    assert seg.order.tolist() == [1, 4, 2, 0, 3], "order: base rows, then id 3, then id 7, each kept in row order"
    assert seg.ids.tolist() == [0, 3, 7]
    assert seg.starts.tolist() == [0, 2, 3]
    assert seg.lengths.tolist() == [2, 1, 2]


@pytest.mark.points(1)
def test_grouped_small_batch_by_hand():
    assert_close(bl.apply_multi_lora_grouped(x, W, adapters, ids), expected, what="apply_multi_lora_grouped")


@pytest.mark.points(1)
def test_grouped_reads_W_once():
    log = ProductLog()
    bl.apply_multi_lora_grouped(x, log.track(W, "W"), adapters, ids)
    assert log.count("W") == 1, f"expected ONE base product over all rows, saw {log.uses['W']}"
    assert log.uses["W"][0][1][0] == 5, f"the base product must cover all 5 rows, saw {log.uses['W']}"


@pytest.mark.points(1)
def test_multi_bfloat16_in_bfloat16_out():
    bf = {i: bl.LoRAAdapter(A=a.A.bfloat16(), B=a.B.bfloat16(), scaling=a.scaling) for i, a in adapters.items()}
    for apply in ("apply_multi_lora_loop", "apply_multi_lora_grouped"):
        y = getattr(bl, apply)(x.bfloat16(), W.bfloat16(), bf, ids)
        assert y.dtype == torch.bfloat16, f"{apply}: output dtype must be x.dtype (bfloat16), got {y.dtype}"
        assert_close(y, expected, dtype=torch.bfloat16, what=apply)


@pytest.mark.points(1)
def test_unknown_adapter_id_is_named():
    with pytest.raises(KeyError, match="42"):
        bl.apply_multi_lora_grouped(x, W, adapters, torch.tensor([7, 0, 42, 7, 0]))
