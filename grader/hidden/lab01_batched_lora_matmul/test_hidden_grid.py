"""Hidden tests: grouped == slots == loop == each row computed alone in float64, over a grid.

Modelled on vLLM's tests/lora/test_punica_ops.py (batch sizes, adapter counts, ranks, odd and
real-model hidden sizes, three dtypes), scaled down to run in seconds on a 2-core CPU.
"""
import pytest
import torch

from grader.testing import (assert_close, lab01_assign_slots, lab01_make_batch,
                            lab01_reference)
from lab01_batched_lora_matmul import batched_lora as bl

F32, BF16, F16 = torch.float32, torch.bfloat16, torch.float16

# (T, adapters, ranks, in, out, dtype, share of base rows)
GRID = [
    (1, 1, [8], 64, 64, F32, 0.0),                     # one row, one adapter
    (4, 8, [1, 16], 2049, 2049, F32, 0.25),            # odd hidden size (vLLM's 2049)
    (16, 32, [1, 2, 4, 8, 16, 32, 64], 256, 512, F32, 0.25),   # many adapters, every rank
    (33, 3, [16, 64, 1], 4096, 4096, F32, 0.3),        # Llama-2-7B q_proj
    (16, 4, [16], 4096, 1024, F32, 0.25),              # Llama-3-8B k_proj / v_proj (GQA)
    (8, 2, [8, 32], 4096, 11008, F32, 0.25),           # Llama-2-7B MLP up_proj
    (6, 2, [16], 11008, 512, F32, 0.0),                # MLP down_proj's in = 11008, no base rows
    (64, 16, [3, 7, 12], 1000, 3000, F32, 0.5),        # half the rows are base rows
    (32, 5, [16], 512, 512, F32, 1.0),                 # all-base batch
    (32, 1, [64], 512, 768, F32, 0.0),                 # single adapter, every row
    (16, 8, [1, 16, 64], 2049, 1000, BF16, 0.25),
    (16, 4, [16], 4096, 4096, BF16, 0.25),
    (5, 32, [4, 8], 128, 128, BF16, 0.2),
    (16, 8, [1, 16, 64], 2049, 1000, F16, 0.25),
    (32, 4, [16], 2048, 2048, F16, 0.25),              # Llama-3.2-1B hidden size
    (7, 3, [2], 5120, 640, F16, 0.4),                  # Llama-2-13B hidden size in
]


def _ids(case):
    T, n, ranks, d_in, d_out, dtype, base = case
    return f"T{T}-n{n}-r{max(ranks)}-{d_in}x{d_out}-{str(dtype)[6:]}-base{base}"


_BATCHES: dict[str, tuple] = {}


def _batch(case):
    """``(x, W, adapters, ids, reference)`` for a GRID case, made once: the grouped and the slots
    test share it (the largest W is 4096 x 11008; making it and its float64 reference twice was
    most of this file's time; all of them together take about 360 MB). The student's code only
    ever gets copies of these tensors, made when they cross into the sandbox."""
    key = _ids(case)
    if key not in _BATCHES:
        T, n, ranks, d_in, d_out, dtype, base = case
        x, W, adapters, ids = lab01_make_batch(bl, T, n, ranks, d_in, d_out, dtype=dtype, base_share=base,
                                               seed=T + n)
        _BATCHES[key] = (x, W, adapters, ids, lab01_reference(x, W, adapters, ids))
    return _BATCHES[key]


@pytest.mark.points(4)
@pytest.mark.hint("grouped must equal each row with its own adapter, for every batch size, rank, "
                  "hidden size and dtype (scaling once, base rows included, original row order)")
@pytest.mark.parametrize("case", GRID, ids=[_ids(c) for c in GRID])
def test_grouped_matches_reference_grid(case):
    x, W, adapters, ids, want = _batch(case)
    y = bl.apply_multi_lora_grouped(x, W, adapters, ids)
    assert y.dtype == case[5], f"output dtype {y.dtype}, expected x.dtype {case[5]}"
    assert_close(y, want, dtype=case[5], what="grouped")


@pytest.mark.points(4)
@pytest.mark.hint("stack_slots + apply_multi_lora_slots must equal each row with its own adapter; "
                  "think about zero padding, where the scaling lives, and what slot -1 means")
@pytest.mark.parametrize("case", GRID, ids=[_ids(c) for c in GRID])
def test_slots_match_reference_grid(case):
    x, W, adapters, ids, want = _batch(case)
    slot_adapters, token_slots = lab01_assign_slots(adapters, ids, n_free=case[0] % 2, seed=case[0])
    A_st, B_st = bl.stack_slots(slot_adapters, max_rank=64)
    y = bl.apply_multi_lora_slots(x, W, A_st, B_st, token_slots)
    assert y.dtype == case[5], f"output dtype {y.dtype}, expected x.dtype {case[5]}"
    assert_close(y, want, dtype=case[5], what="slots")


LOOP_GRID = [
    (1, 1, [4], 32, 48, F32, 0.0),
    (12, 5, [1, 8, 16], 300, 200, F32, 0.3),
    (9, 3, [16], 2049, 1024, F32, 0.3),
    (10, 4, [2, 64], 256, 256, BF16, 0.3),
    (10, 4, [2, 64], 256, 256, F16, 0.3),
    (8, 3, [4], 64, 64, F32, 1.0),
]


@pytest.mark.points(3)
@pytest.mark.hint("the per-row loop: each row gets the base product plus its own adapter (id 0: base only)")
@pytest.mark.parametrize("case", LOOP_GRID, ids=[_ids(c) for c in LOOP_GRID])
def test_loop_matches_reference_grid(case):
    T, n, ranks, d_in, d_out, dtype, base = case
    x, W, adapters, ids = lab01_make_batch(bl, T, n, ranks, d_in, d_out, dtype=dtype, base_share=base, seed=7 * T)
    y = bl.apply_multi_lora_loop(x, W, adapters, ids)
    assert y.dtype == dtype, f"output dtype {y.dtype}, expected x.dtype {dtype}"
    assert_close(y, lab01_reference(x, W, adapters, ids), dtype=dtype, what="loop")


@pytest.mark.points(2)
@pytest.mark.hint("grouping is an optimization, never a behaviour change: compare the three ways row by row")
@pytest.mark.parametrize("dtype", [F32, BF16, F16])
def test_three_ways_agree_row_by_row(dtype):
    x, W, adapters, ids = lab01_make_batch(bl, 24, 6, [1, 4, 16], 384, 320, dtype=dtype, seed=3)
    slot_adapters, token_slots = lab01_assign_slots(adapters, ids, seed=3)
    A_st, B_st = bl.stack_slots(slot_adapters, max_rank=16)
    loop = bl.apply_multi_lora_loop(x, W, adapters, ids)
    grouped = bl.apply_multi_lora_grouped(x, W, adapters, ids)
    slots = bl.apply_multi_lora_slots(x, W, A_st, B_st, token_slots)
    for t in range(24):
        assert_close(grouped[t], loop[t], dtype=dtype, what=f"row {t} (id {int(ids[t])}): grouped vs loop")
        assert_close(slots[t], loop[t], dtype=dtype, what=f"row {t} (id {int(ids[t])}): slots vs loop")


@pytest.mark.points(2)
@pytest.mark.hint("apply_lora on one adapter must equal the merged layer W + scaling * B @ A, in every dtype")
@pytest.mark.parametrize("dtype", [F32, BF16, F16])
@pytest.mark.parametrize("rank,d_in,d_out", [(1, 2049, 512), (16, 2048, 2048), (64, 512, 1536)])
def test_apply_lora_matches_reference_dtypes(dtype, rank, d_in, d_out):
    x, W, adapters, _ = lab01_make_batch(bl, 20, 1, [rank], d_in, d_out, dtype=dtype, seed=rank)
    (aid, ad), = adapters.items()
    y = bl.apply_lora(x, W, ad.A, ad.B, ad.scaling)
    assert y.dtype == dtype
    ids = torch.full((20,), aid)
    assert_close(y, lab01_reference(x, W, adapters, ids), dtype=dtype, what="apply_lora")
