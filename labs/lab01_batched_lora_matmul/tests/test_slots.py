"""Public tests, TODO 8-9: the slot layout an engine keeps, and -1 = "no adapter"."""
import pytest
import torch

from grader.testing import assert_close
from lab01_batched_lora_matmul import batched_lora as bl

# in = 2, out = 2, W = identity; two adapters of ranks 1 and 2.
W = torch.eye(2)
small = bl.LoRAAdapter(A=torch.tensor([[1.0, 0.0]]), B=torch.tensor([[1.0], [1.0]]), scaling=3.0)   # r = 1
big = bl.LoRAAdapter(A=torch.eye(2), B=torch.eye(2), scaling=0.5)                                  # r = 2


@pytest.mark.points(1)
def test_stack_slots_layout():
    A_st, B_st = bl.stack_slots([small, None, big], max_rank=4)
    assert tuple(A_st.shape) == (3, 4, 2) and tuple(B_st.shape) == (3, 2, 4)
    assert A_st[0].tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], "slot 0: A in row 0, zeros below"
    assert B_st[0].tolist() == [[3.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]], "slot 0: B times scaling 3, zeros right"
    assert not A_st[1].any() and not B_st[1].any(), "an empty slot is all zeros"
    assert B_st[2].tolist() == [[0.5, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0]]


@pytest.mark.points(1)
def test_minus_one_with_a_free_slot_in_the_middle():
    # A free slot does not protect a -1 row unless it is the LAST slot: here slot 1 is free,
    # slot 2 (= A_stacked[-1]) holds `big`, and the -1 row must still get the base product only.
    A_st, B_st = bl.stack_slots([small, None, big], max_rank=4)
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    y = bl.apply_multi_lora_slots(x, W, A_st, B_st, torch.tensor([0, -1, 2]))
    assert_close(y, torch.tensor([[4.0, 5.0], [1.0, 2.0], [1.5, 3.0]]), what="apply_multi_lora_slots")


@pytest.mark.points(1)
def test_minus_one_with_every_slot_full():
    # No free slot at all: a row with -1 must still get the base product only, never the last slot.
    A_st, B_st = bl.stack_slots([small, big], max_rank=2)
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0]])
    y = bl.apply_multi_lora_slots(x, W, A_st, B_st, torch.tensor([-1, 1]))
    assert_close(y[0], torch.tensor([1.0, 2.0]), what="row with slot -1 (base only)")
    assert_close(y[1], torch.tensor([1.5, 3.0]), what="row with slot 1")


@pytest.mark.points(1)
def test_slots_bfloat16_in_bfloat16_out():
    A_st, B_st = bl.stack_slots([small, big], max_rank=2)
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], dtype=torch.bfloat16)
    y = bl.apply_multi_lora_slots(x, W.bfloat16(), A_st.bfloat16(), B_st.bfloat16(), torch.tensor([0, -1, 1]))
    assert y.dtype == torch.bfloat16, f"output dtype must be x.dtype (bfloat16), got {y.dtype}"
    assert_close(y, torch.tensor([[4.0, 5.0], [1.0, 2.0], [1.5, 3.0]]), dtype=torch.bfloat16)


@pytest.mark.points(1)
def test_rank_above_max_rank_is_named():
    with pytest.raises(ValueError, match="rank 2"):
        bl.stack_slots([small, big], max_rank=1)
