"""Hidden tests: HOW the grouped version computes (one base product, one shrink+expand per
adapter on its own rows), the segment metadata, and the rank-r structure of a delta.

Counting uses grader.testing.ProductLog: a tracked weight behaves like the real one and records
every operation that reads it into a new result. No timing anywhere.
"""
import pytest
import torch

from grader.testing import ProductLog, assert_close, inputs_changed, lab01_make_batch, lab01_reference
from lab01_batched_lora_matmul import batched_lora as bl


def _tracked(log, W, adapters):
    Wt = log.track(W, "W")
    ads = {i: bl.LoRAAdapter(log.track(a.A, f"A{i}"), log.track(a.B, f"B{i}"), a.scaling)
           for i, a in adapters.items()}
    return Wt, ads


@pytest.mark.points(3)
@pytest.mark.hint("the grouped apply reads W once: one base product over ALL rows, base rows included")
@pytest.mark.parametrize("n,base", [(6, 0.3), (1, 0.0), (4, 1.0), (12, 0.5)])
def test_grouped_one_base_product_over_all_rows(n, base):
    T = 40
    x, W, adapters, ids = lab01_make_batch(bl, T, n, [2, 8], 48, 80, base_share=base, seed=n)
    log = ProductLog()
    Wt, ads = _tracked(log, W, adapters)
    y = bl.apply_multi_lora_grouped(x, Wt, ads, ids)
    assert_close(y, lab01_reference(x, W, adapters, ids), dtype=torch.float32, what="grouped (tracked weights)")
    uses = log.uses["W"]
    assert len(uses) == 1, f"expected exactly one product with W, saw {len(uses)}: {uses}"
    assert uses[0][1][0] == T, f"the base product must cover all {T} rows, its result was {uses[0][1]}"


@pytest.mark.points(3)
@pytest.mark.hint("per distinct adapter in the batch: one shrink and one expand, on that adapter's rows "
                  "only; adapters not in the batch are never touched")
def test_grouped_one_shrink_expand_per_adapter_on_its_rows():
    T = 50
    x, W, adapters, ids = lab01_make_batch(bl, T, 7, [1, 4, 16], 64, 96, base_share=0.2, seed=11)
    extra = bl.LoRAAdapter(torch.randn(4, 64), torch.randn(96, 4), 1.0)
    adapters = {**adapters, 999: extra}                          # registered but not in this batch
    log = ProductLog()
    Wt, ads = _tracked(log, W, adapters)
    bl.apply_multi_lora_grouped(x, Wt, ads, ids)
    for i in adapters:
        n_rows = int((ids == i).sum())
        for part in ("A", "B"):
            uses = log.uses[f"{part}{i}"]
            if n_rows == 0:
                assert uses == [], f"adapter {i} is not in the batch but its {part} was read: {uses}"
            else:
                assert len(uses) == 1, f"adapter {i}: expected one product with {part}, saw {uses}"
                assert uses[0][1][0] == n_rows, (f"adapter {i} has {n_rows} rows but the product with its "
                                                 f"{part} had result shape {uses[0][1]}")


@pytest.mark.points(1)
@pytest.mark.hint("the per-row loop really is per row: every row reads W again")
def test_loop_reads_W_once_per_row():
    x, W, adapters, ids = lab01_make_batch(bl, 9, 3, [4], 32, 24, seed=5)
    log = ProductLog()
    Wt, ads = _tracked(log, W, adapters)
    bl.apply_multi_lora_loop(x, Wt, ads, ids)
    assert log.count("W") == 9, f"expected one base product per row (9), saw {log.uses['W']}"


def _check_segments(ids):
    seg = bl.segment_by_adapter(ids)
    T = ids.shape[0]
    for name in ("order", "ids", "starts", "lengths"):
        t = getattr(seg, name)
        assert isinstance(t, torch.Tensor) and t.dtype == torch.int64 and t.dim() == 1, \
            f"{name} must be a 1-D int64 tensor, got {getattr(t, 'dtype', type(t))}"
    assert sorted(seg.order.tolist()) == list(range(T)), "order must be a permutation of the rows"
    uniq = sorted(set(ids.tolist()))
    assert seg.ids.tolist() == uniq, f"group ids must be the distinct ids, ascending: {uniq}"
    counts = [int((ids == i).sum()) for i in uniq]
    assert seg.lengths.tolist() == counts, "lengths must count each id's rows"
    starts = [sum(counts[:g]) for g in range(len(counts))]
    assert seg.starts.tolist() == starts, f"starts must be where each group begins: {starts}"
    for g, i in enumerate(uniq):
        rows = seg.order[starts[g]:starts[g] + counts[g]].tolist()
        assert rows == [t for t in range(T) if ids[t] == i], f"group {i}: its rows in their original order"


@pytest.mark.points(2)
@pytest.mark.hint("segments: a stable grouping; starts are where each group begins, not where it ends")
@pytest.mark.parametrize("T,hi,seed", [(0, 3, 0), (1, 3, 1), (7, 2, 2), (100, 5, 3), (257, 40, 4), (64, 1000, 5)])
def test_segments_random_batches(T, hi, seed):
    g = torch.Generator().manual_seed(seed)
    _check_segments(torch.randint(0, hi, (T,), generator=g))


@pytest.mark.points(1)
@pytest.mark.hint("segment_by_adapter accepts any integer dtype and leaves its input alone")
def test_segments_int32_and_input_untouched():
    ids = torch.tensor([5, 5, 2, 9, 2, 0, 9, 5], dtype=torch.int32)
    before, version = ids.clone(), ids._version
    _check_segments(ids)
    assert torch.equal(ids, before) and ids._version == version, "segment_by_adapter modified adapter_ids"
    assert not inputs_changed(bl.segment_by_adapter), "segment_by_adapter modified adapter_ids"


@pytest.mark.points(2)
@pytest.mark.hint("B @ A has rank at most r: look at the singular values of the delta")
@pytest.mark.parametrize("r", [1, 3, 16])
def test_delta_has_rank_r(r):
    d_in, d_out = 48, 40
    g = torch.Generator().manual_seed(r)
    A = torch.randn(r, d_in, generator=g, dtype=torch.float64)
    B = torch.randn(d_out, r, generator=g, dtype=torch.float64)
    delta = bl.lora_delta(torch.eye(d_in, dtype=torch.float64), A, B, 1.5)    # = 1.5 * (B @ A).T
    assert delta.shape == (d_in, d_out)
    assert int(torch.linalg.matrix_rank(delta)) == r, "the delta of a rank-r adapter must have rank r"
    torch.testing.assert_close(delta, 1.5 * (B @ A).T)
