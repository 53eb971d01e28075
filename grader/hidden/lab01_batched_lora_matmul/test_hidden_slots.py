"""Hidden tests: the slot layout (zero padding, scaling folded once) and slot index -1."""
import pytest
import torch

from grader.testing import (TOLERANCES, assert_close, lab01_assign_slots, lab01_make_adapter,
                            lab01_make_batch, lab01_reference)
from lab01_batched_lora_matmul import batched_lora as bl


@pytest.mark.points(3)
@pytest.mark.hint("-1 means no adapter; in Python, A_stacked[-1] is the last slot. Every slot is full here")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("S", [1, 2, 8])
def test_minus_one_never_aliases_last_slot(dtype, S):
    x, W, adapters, ids = lab01_make_batch(bl, 48, S, [4, 16], 96, 64, dtype=dtype, base_share=0.4, seed=S)
    for j, aid in enumerate(adapters):                 # make sure every adapter has a row
        ids[j] = aid
    slot_adapters, token_slots = lab01_assign_slots(adapters, ids, n_free=0, seed=S)
    A_st, B_st = bl.stack_slots(slot_adapters, max_rank=16)
    y = bl.apply_multi_lora_slots(x, W, A_st, B_st, token_slots)
    ref = lab01_reference(x, W, adapters, ids)
    base_rows = token_slots == -1
    assert base_rows.any()
    assert_close(y[base_rows], (x[base_rows].double() @ W.double().T), dtype=dtype,
                 what="rows with slot -1 (base product only)")
    assert_close(y, ref, dtype=dtype, what="all rows")


@pytest.mark.points(2)
@pytest.mark.hint("a row pointing at an empty slot gets the base product only (empty slots are zeros)")
def test_rows_on_empty_slot_get_base_only():
    x, W, adapters, ids = lab01_make_batch(bl, 20, 2, [8], 32, 32, seed=4)
    slots = [None, *adapters.values(), None]
    A_st, B_st = bl.stack_slots(slots, max_rank=8)
    token_slots = torch.tensor([0, 3] * 10)
    assert_close(bl.apply_multi_lora_slots(x, W, A_st, B_st, token_slots), x @ W.T, what="empty slots")


@pytest.mark.points(3)
@pytest.mark.hint("each adapter sits in the first r rows of A and first r columns of B; the rest is exactly "
                  "zero; scaling goes into B once")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_stack_slots_zero_padding_and_scaling_once(dtype):
    ranks, scalings = [1, 5, 16, 3], [0.25, 4.0, 1.5, -2.0]
    ads = [lab01_make_adapter(bl, r, 40, 24, scaling=s, dtype=dtype, seed=r) for r, s in zip(ranks, scalings)]
    slots = [ads[0], None, ads[1], ads[2], None, ads[3]]
    A_st, B_st = bl.stack_slots(slots, max_rank=32)
    assert tuple(A_st.shape) == (6, 32, 40) and tuple(B_st.shape) == (6, 24, 32), \
        f"shapes must be padded to max_rank=32, got A {tuple(A_st.shape)}, B {tuple(B_st.shape)}"
    assert A_st.dtype == dtype and B_st.dtype == dtype, f"stacked dtype must be the adapters' ({dtype})"
    for k, ad in enumerate(slots):
        if ad is None:
            assert not A_st[k].any() and not B_st[k].any(), f"empty slot {k} must be all zeros"
            continue
        r = ad.rank
        assert torch.equal(A_st[k, :r], ad.A), f"slot {k}: A_stacked[k, :r] must be the adapter's A"
        assert not A_st[k, r:].any(), f"slot {k}: rows r: of A_stacked[k] must be zero"
        assert not B_st[k, :, r:].any(), f"slot {k}: columns r: of B_stacked[k] must be zero"
        assert_close(B_st[k, :, :r], ad.scaling * ad.B.double(), dtype=dtype,
                     what=f"slot {k}: B_stacked[k, :, :r] (scaling {ad.scaling} folded in once)")


@pytest.mark.points(2)
@pytest.mark.hint("max_rank is the engine's fixed slot size, not the largest rank in this list")
def test_stack_slots_uses_max_rank_not_largest_rank():
    ads = [lab01_make_adapter(bl, 4, 16, 8, seed=1), lab01_make_adapter(bl, 8, 16, 8, seed=2)]
    A_st, B_st = bl.stack_slots(ads, max_rank=64)
    assert A_st.shape[1] == 64 and B_st.shape[2] == 64


@pytest.mark.points(2)
@pytest.mark.hint("the same adapter must give the same rows whichever slot it sits in")
def test_slot_position_does_not_matter():
    x, W, adapters, ids = lab01_make_batch(bl, 30, 4, [2, 8], 64, 48, base_share=0.3, seed=8)
    outs = []
    for seed in (0, 1, 2):
        slot_adapters, token_slots = lab01_assign_slots(adapters, ids, n_free=2, seed=seed)
        A_st, B_st = bl.stack_slots(slot_adapters, max_rank=8)
        outs.append(bl.apply_multi_lora_slots(x, W, A_st, B_st, token_slots))
    ref = lab01_reference(x, W, adapters, ids)
    for y in outs:
        assert_close(y, ref, dtype=torch.float32, what="slots in another order")
