"""Hidden tests: the contract every function keeps — inputs untouched, x's dtype out, empty
batches, and bad input rejected up front with a message naming the id or the shapes."""
import pytest
import torch

from grader.testing import ProductLog, inputs_changed, lab01_assign_slots, lab01_make_batch
from lab01_batched_lora_matmul import batched_lora as bl

DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def _world(dtype=torch.float32, T=12):
    x, W, adapters, ids = lab01_make_batch(bl, T, 3, [2, 8], 24, 16, dtype=dtype, base_share=0.3, seed=1)
    slot_adapters, token_slots = lab01_assign_slots(adapters, ids, seed=1)
    A_st, B_st = bl.stack_slots(slot_adapters, max_rank=8)
    ad = next(iter(adapters.values()))
    return x, W, adapters, ids, slot_adapters, token_slots, A_st, B_st, ad


NAMES = ["shrink", "expand", "lora_delta", "apply_lora", "apply_multi_lora_loop", "segment_by_adapter",
         "apply_multi_lora_grouped", "stack_slots", "apply_multi_lora_slots"]


def _calls(dtype=torch.float32, T=12):
    """Every public function on a small mixed batch: name -> (function, args)."""
    x, W, adapters, ids, slot_adapters, token_slots, A_st, B_st, ad = _world(dtype, T)
    s = torch.ones(T, ad.rank, dtype=dtype)
    return {
        "shrink": (bl.shrink, (x, ad.A)),
        "expand": (bl.expand, (s, ad.B)),
        "lora_delta": (bl.lora_delta, (x, ad.A, ad.B, ad.scaling)),
        "apply_lora": (bl.apply_lora, (x, W, ad.A, ad.B, ad.scaling)),
        "apply_multi_lora_loop": (bl.apply_multi_lora_loop, (x, W, adapters, ids)),
        "segment_by_adapter": (bl.segment_by_adapter, (ids,)),
        "apply_multi_lora_grouped": (bl.apply_multi_lora_grouped, (x, W, adapters, ids)),
        "stack_slots": (bl.stack_slots, (slot_adapters, 8)),
        "apply_multi_lora_slots": (bl.apply_multi_lora_slots, (x, W, A_st, B_st, token_slots)),
    }


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, bl.LoRAAdapter):
        yield obj.A
        yield obj.B
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


@pytest.mark.points(3)
@pytest.mark.hint("never write into an input: not x, not W, not an adapter's A or B, not the ids or slots")
@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_never_modified(name):
    fn, args = _calls()[name]
    tensors = list(_tensors(args))
    before = [(t.clone(), t._version) for t in tensors]
    fn(*args)
    fn(*args)                                     # twice: a second call must not see a changed input
    for t, (copy, version) in zip(tensors, before):
        assert torch.equal(t, copy) and t._version == version, \
            f"{name} modified one of its inputs (shape {tuple(t.shape)}) in place"
    # judged in a sandbox, the call worked on copies: the sandbox says what it changed
    assert not inputs_changed(fn), f"{name} modified its inputs in place: {inputs_changed(fn)}"


@pytest.mark.points(2)
@pytest.mark.hint("the output has x's dtype, whatever you accumulate in")
@pytest.mark.parametrize("dtype", DTYPES)
def test_output_dtype_is_x_dtype(dtype):
    for name, (fn, args) in _calls(dtype).items():
        if name == "segment_by_adapter":
            continue
        out = fn(*args)
        got = [o.dtype for o in out] if isinstance(out, tuple) else [out.dtype]
        assert all(g == dtype for g in got), f"{name}: output dtype {got}, expected {dtype}"


@pytest.mark.points(2)
@pytest.mark.hint("an empty batch (T = 0) is a valid batch")
def test_empty_batch_everywhere():
    x, W, adapters, ids, slot_adapters, token_slots, A_st, B_st, ad = _world(T=0)
    assert x.shape == (0, 24)
    assert bl.shrink(x, ad.A).shape == (0, ad.rank)
    assert bl.expand(torch.zeros(0, ad.rank), ad.B).shape == (0, 16)
    assert bl.lora_delta(x, ad.A, ad.B, 2.0).shape == (0, 16)
    assert bl.apply_lora(x, W, ad.A, ad.B, 2.0).shape == (0, 16)
    assert bl.apply_multi_lora_loop(x, W, adapters, ids).shape == (0, 16)
    assert bl.apply_multi_lora_grouped(x, W, adapters, ids).shape == (0, 16)
    assert bl.apply_multi_lora_slots(x, W, A_st, B_st, token_slots).shape == (0, 16)
    seg = bl.segment_by_adapter(ids)
    assert all(t.numel() == 0 and t.dtype == torch.int64 for t in seg), "empty batch: four empty int64 tensors"


def _bad_cases():
    x, W, adapters, ids, slot_adapters, token_slots, A_st, B_st, ad = _world()
    aid = next(iter(adapters))
    bad_ids = ids.clone()
    bad_ids[-1] = 4242
    wrong_B = dict(adapters)
    wrong_B[aid] = bl.LoRAAdapter(ad.A, torch.zeros(17, ad.rank), 1.0)
    slots_far = token_slots.clone()
    slots_far[0] = len(slot_adapters)
    slots_neg = token_slots.clone()
    slots_neg[0] = -2
    odd = bl.LoRAAdapter(torch.zeros(2, 25), torch.zeros(16, 2), 1.0)
    G, L = bl.apply_multi_lora_grouped, bl.apply_multi_lora_loop
    return {c[0]: c for c in [
        ("grouped unknown id", KeyError, "4242", G, (x, W, adapters, bad_ids)),
        ("loop unknown id", KeyError, "4242", L, (x, W, adapters, bad_ids)),
        ("grouped W in mismatch", ValueError, r"\(16, 25\)", G, (x, torch.zeros(16, 25), adapters, ids)),
        ("grouped adapter B wrong out", ValueError, str(aid), G, (x, W, wrong_B, ids)),
        ("grouped ids length", ValueError, "11", G, (x, W, adapters, ids[:11])),
        ("grouped negative id", ValueError, "-3", G, (x, W, adapters, torch.where(ids == 0, -3, ids))),
        ("grouped float ids", ValueError, "adapter_ids", G, (x, W, adapters, ids.float())),
        ("grouped id 0 registered", ValueError, "id 0", G, (x, W, {**adapters, 0: ad}, ids)),
        ("apply_lora A in mismatch", ValueError, r"\(2, 25\)", bl.apply_lora, (x, W, odd.A, odd.B, 1.0)),
        ("expand rank mismatch", ValueError, r"\(12, 3\)", bl.expand, (torch.zeros(12, 3), ad.B)),
        ("slots index too big", ValueError, str(len(slot_adapters)), bl.apply_multi_lora_slots,
         (x, W, A_st, B_st, slots_far)),
        ("slots index -2", ValueError, "-2", bl.apply_multi_lora_slots, (x, W, A_st, B_st, slots_neg)),
        ("slots stacked mismatch", ValueError, r"\(3, 8, 24\)", bl.apply_multi_lora_slots,
         (x, W, A_st, B_st[:, :, :4], token_slots)),
        ("stack mixed layers", ValueError, "slot 1", bl.stack_slots, ([ad, odd], 8)),
        ("stack all empty", ValueError, "no adapter", bl.stack_slots, ([None, None], 8)),
    ]}


BAD = ["grouped unknown id", "loop unknown id", "grouped W in mismatch", "grouped adapter B wrong out",
       "grouped ids length", "grouped negative id", "grouped float ids", "grouped id 0 registered",
       "apply_lora A in mismatch", "expand rank mismatch", "slots index too big", "slots index -2",
       "slots stacked mismatch", "stack mixed layers", "stack all empty"]


@pytest.mark.points(3)
@pytest.mark.hint("validate first, then compute: ValueError/KeyError whose message names the id or shapes")
@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_error_naming_id_or_shapes(case):
    _, exc, pattern, fn, args = _bad_cases()[case]
    with pytest.raises(exc, match=pattern):
        fn(*args)


@pytest.mark.points(1)
@pytest.mark.hint("an unknown adapter id must be caught before any work is done on the batch")
def test_unknown_id_caught_before_any_product():
    x, W, adapters, ids, *_ = _world()
    ids = ids.clone()
    ids[-1] = 777
    log = ProductLog()
    with pytest.raises(KeyError, match="777"):
        bl.apply_multi_lora_grouped(x, log.track(W, "W"), adapters, ids)
    assert log.count("W") == 0, "the base product ran before the bad id was noticed"
