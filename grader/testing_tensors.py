"""Tensor helpers for the labs' tests (lab 01): tolerances, random adapters and batches, the
per-row oracle and the product counter. Imported through grader.testing, on first use."""
from __future__ import annotations

import torch

from grader.sandbox.tracking import ProductLog  # noqa: F401  (tests import it from here)

# Per-dtype tolerances, as in vLLM's tests/lora/test_punica_ops.py (fp32 1e-2, fp16/bf16 6e-2),
# tightened for fp32 because our references accumulate in fp32 too.
TOLERANCES = {
    torch.float32: dict(atol=1e-4, rtol=1e-4),
    torch.float16: dict(atol=6e-2, rtol=6e-2),
    torch.bfloat16: dict(atol=6e-2, rtol=6e-2),
}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, *, dtype=None, what: str = "output"):
    """Compare in float32 with the tolerance for ``dtype`` (default: expected's dtype)."""
    assert isinstance(actual, torch.Tensor), f"{what}: expected a tensor, got {type(actual).__name__}"
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    tol = TOLERANCES[dtype or expected.dtype]
    torch.testing.assert_close(actual.float(), expected.float(), **tol, msg=lambda m: f"{what}: {m}")


# --------------------------------------------------------------------------------------------
# Lab 01 helpers: random adapters and batches, the per-row float64 oracle, and a product counter.
# --------------------------------------------------------------------------------------------

def lab01_make_adapter(lab, rank: int, d_in: int, d_out: int, *, scaling: float = 2.0,
                       dtype=torch.float32, seed: int = 0):
    """A random ``lab.LoRAAdapter`` with outputs of order 1 (A ~ N(0, 1/in), B ~ N(0, 1/r))."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(rank, d_in, generator=g) / d_in ** 0.5
    B = torch.randn(d_out, rank, generator=g) / rank ** 0.5
    return lab.LoRAAdapter(A.to(dtype), B.to(dtype), scaling)


def lab01_make_layer(T: int, d_in: int, d_out: int, *, dtype=torch.float32, seed: int = 0):
    """x: (T, in) ~ N(0, 1) and W: (out, in) ~ N(0, 1/in), so every output is of order 1."""
    g = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(T, d_in, generator=g)
    W = torch.randn(d_out, d_in, generator=g) / d_in ** 0.5
    return x.to(dtype), W.to(dtype)


def lab01_reference(x, W, adapters, adapter_ids) -> torch.Tensor:
    """What each row gets ALONE, by definition: x_row @ W.T + scaling * (x_row @ A.T) @ B.T.

    Computed in float64 from the given (possibly 16-bit) tensors, adapter by adapter, each with
    its own base product: an oracle for tests, deliberately not the one-base-product way.
    Row t uses ``adapters[adapter_ids[t]]``, or no adapter when its id is 0. Returns float64 (T, out).
    """
    W64 = W.double()
    out = torch.empty(x.shape[0], W.shape[0], dtype=torch.float64)
    for i in sorted(set(adapter_ids.tolist())):
        rows = adapter_ids == i
        xi = x[rows].double()
        out[rows] = xi @ W64.T
        if i != 0:
            ad = adapters[i]
            out[rows] += ad.scaling * ((xi @ ad.A.double().T) @ ad.B.double().T)
    return out


def lab01_make_batch(lab, T: int, n_adapters: int, ranks, d_in: int, d_out: int, *, dtype=torch.float32,
                     base_share: float = 0.25, seed: int = 0):
    """A random mixed batch: ``(x, W, adapters, adapter_ids)``.

    ``n_adapters`` adapters with scattered ids (not 1..n), ranks cycling through ``ranks`` and
    scalings other than 1; each row is a base row (id 0) with probability ``base_share``, else
    uses a random adapter. Rows come out unsorted and interleaved.
    """
    g = torch.Generator().manual_seed(seed)
    x, W = lab01_make_layer(T, d_in, d_out, dtype=dtype, seed=seed)
    pool = (torch.randperm(997, generator=g)[:n_adapters] + 1).tolist()
    adapters = {aid: lab01_make_adapter(lab, ranks[j % len(ranks)], d_in, d_out, scaling=0.5 + 0.75 * (j % 4),
                                        dtype=dtype, seed=seed * 1000 + j)
                for j, aid in enumerate(pool)}
    choice = torch.tensor(pool)[torch.randint(0, max(n_adapters, 1), (T,), generator=g)] if n_adapters else \
        torch.zeros(T, dtype=torch.int64)
    base = torch.rand(T, generator=g) < base_share
    adapter_ids = torch.where(base, torch.zeros_like(choice), choice).to(torch.int64)
    return x, W, adapters, adapter_ids


def lab01_assign_slots(adapters, adapter_ids, *, n_free: int = 0, seed: int = 0):
    """Put every adapter into a slot, in a shuffled order, plus ``n_free`` empty slots.

    Returns ``(slot_adapters, token_slots)``: the list for ``stack_slots`` (None = empty slot)
    and, per row, the slot index of its adapter, or -1 for a base row (id 0).
    """
    g = torch.Generator().manual_seed(seed)
    ids = list(adapters) + [None] * n_free
    perm = torch.randperm(len(ids), generator=g).tolist()
    slot_ids = [ids[p] for p in perm]
    slot_of = {aid: k for k, aid in enumerate(slot_ids) if aid is not None}
    token_slots = torch.tensor([slot_of[i] if i else -1 for i in adapter_ids.tolist()], dtype=torch.int64)
    return [adapters[a] if a is not None else None for a in slot_ids], token_slots
