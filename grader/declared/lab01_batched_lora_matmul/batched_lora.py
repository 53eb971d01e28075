"""Lab 01 — the math a serving engine runs for a batch whose rows use different LoRA adapters.

Shapes used everywhere in this file:

    x : (T, in)      one row per token in the batch
    W : (out, in)    the frozen base weight of one linear layer, shared by every row
    A : (r, in)      an adapter's "shrink" matrix (down to rank r)
    B : (out, r)     an adapter's "expand" matrix (back up to out)

An adapter patches the layer to W' = W + scaling * B @ A, so one row gets
    y = x @ W.T + scaling * (x @ A.T) @ B.T          (T, out)

Contract for every public function (see README.md):
  * inputs are never modified; the output has x's dtype (accumulating in float32 is fine);
  * an empty batch (T = 0) works; adapters may have different ranks; rows need not be sorted;
  * bad input raises ValueError / KeyError naming the offending id or shapes, before any math.
The ``check_*`` helpers below are provided by the course: call them first.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Optional, Sequence

import torch

# --------------------------------------------------------------------------------------------
# Course-provided types and input checks (not part of the exercise).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LoRAAdapter:
    """One adapter for one linear layer: the patch is ``scaling * B @ A``.

    A: (r, in) shrink matrix; B: (out, r) expand matrix; scaling: a real number
    (PEFT uses lora_alpha / r). The rank r is A's first dimension and must match B's second.
    """

    A: torch.Tensor
    B: torch.Tensor
    scaling: float = 1.0

    def __post_init__(self):
        A, B = self.A, self.B
        if not isinstance(A, torch.Tensor) or not isinstance(B, torch.Tensor):
            raise ValueError(f"LoRAAdapter: A and B must be tensors, got {type(A).__name__} "
                             f"and {type(B).__name__}")
        if A.dim() != 2 or B.dim() != 2:
            raise ValueError(f"LoRAAdapter: A must be (r, in) and B (out, r); got A {_shape(A)} "
                             f"and B {_shape(B)}")
        if A.shape[0] != B.shape[1] or A.shape[0] < 1:
            raise ValueError(f"LoRAAdapter: rank mismatch, A {_shape(A)} is (r, in) but B {_shape(B)} "
                             f"is (out, r) with a different r (r must be >= 1)")
        s = self.scaling
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s):
            raise ValueError(f"LoRAAdapter: scaling must be a finite real number, got {s!r}")

    @property
    def rank(self) -> int:
        return self.A.shape[0]

    @property
    def in_features(self) -> int:
        return self.A.shape[1]

    @property
    def out_features(self) -> int:
        return self.B.shape[0]


class Segments(NamedTuple):
    """SGMV metadata for a batch: its rows grouped by adapter id.

    order:   (T,) int64 — row indices of the batch, grouped by id (``adapter_ids[order]`` is sorted)
    ids:     (G,) int64 — the id of each group, ascending, each distinct id once
    starts:  (G,) int64 — where each group begins in ``order``
    lengths: (G,) int64 — how many rows each group has (every length >= 1)
    """

    order: torch.Tensor
    ids: torch.Tensor
    starts: torch.Tensor
    lengths: torch.Tensor


def _shape(t) -> tuple:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


def check_operands(left_name: str, left, right_name: str, right) -> None:
    """For ``left @ right.T``: left (T, k) and right (n, k), both 2-D floating-point tensors."""
    for name, t in ((left_name, left), (right_name, right)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or not t.is_floating_point():
            raise ValueError(f"{name} must be a 2-D floating-point tensor, got {name} {_shape(t)}"
                             + (f" of {t.dtype}" if isinstance(t, torch.Tensor) else ""))
    if left.shape[1] != right.shape[1]:
        raise ValueError(f"shape mismatch: {left_name} {_shape(left)} @ {right_name}.T needs "
                         f"{left_name}.shape[1] == {right_name}.shape[1], got {right_name} {_shape(right)}")


def check_adapter(A, B, in_features: int, out_features: Optional[int] = None, *, name: str = "adapter") -> None:
    """A (r, in) and B (out, r) fit a layer ``in_features -> out_features``."""
    LoRAAdapter(A, B)  # shape and rank checks
    if A.shape[1] != in_features:
        raise ValueError(f"{name}: A {_shape(A)} must be (r, in) with in = {in_features}")
    if out_features is not None and B.shape[0] != out_features:
        raise ValueError(f"{name}: B {_shape(B)} must be (out, r) with out = {out_features}")


def check_ids(ids, n_rows: int, name: str = "adapter_ids") -> None:
    """ids: a 1-D integer tensor with one entry per row (``n_rows=-1``: any length)."""
    if (not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.is_floating_point()
            or ids.is_complex() or ids.dtype == torch.bool):
        raise ValueError(f"{name} must be a 1-D integer tensor, got {_shape(ids)}"
                         + (f" of {ids.dtype}" if isinstance(ids, torch.Tensor) else ""))
    if n_rows >= 0 and ids.shape[0] != n_rows:
        raise ValueError(f"{name} has {ids.shape[0]} entries but x has {n_rows} rows")


def check_multi_lora_inputs(x, W, adapters: Mapping[int, LoRAAdapter], adapter_ids) -> None:
    """x (T, in), W (out, in), adapter_ids (T,) ints >= 0, every non-zero id a fitting adapter."""
    check_operands(left_name="x", left=x, right_name="W", right=W)
    check_ids(adapter_ids, x.shape[0])
    if not isinstance(adapters, Mapping):
        raise ValueError(f"adapters must map int id -> LoRAAdapter, got {type(adapters).__name__}")
    if 0 in adapters:
        raise ValueError("adapters has an entry for id 0, but id 0 means 'no adapter' (ids start at 1)")
    for i in torch.unique(adapter_ids).tolist():
        if i < 0:
            raise ValueError(f"adapter id {i} in adapter_ids is negative; ids are 0 (base) or >= 1")
        if i == 0:
            continue
        if i not in adapters:
            known = sorted(adapters)
            raise KeyError(f"adapter id {i} is in adapter_ids but not in adapters (known ids: {known})")
        ad = adapters[i]
        if not isinstance(ad, LoRAAdapter):
            raise ValueError(f"adapters[{i}] must be a LoRAAdapter, got {type(ad).__name__}")
        check_adapter(ad.A, ad.B, W.shape[1], W.shape[0], name=f"adapter id {i}")


def check_slot_adapters(slot_adapters: Sequence[Optional[LoRAAdapter]], max_rank: int):
    """Returns (in_features, out_features, dtype) shared by the adapters in the slots."""
    if isinstance(max_rank, bool) or not isinstance(max_rank, int) or max_rank < 1:
        raise ValueError(f"max_rank must be an int >= 1, got {max_rank!r}")
    if not isinstance(slot_adapters, Sequence) or len(slot_adapters) == 0:
        raise ValueError("slot_adapters must be a non-empty list of LoRAAdapter or None (one per slot)")
    first = None
    for k, ad in enumerate(slot_adapters):
        if ad is None:
            continue
        if not isinstance(ad, LoRAAdapter):
            raise ValueError(f"slot {k}: expected a LoRAAdapter or None, got {type(ad).__name__}")
        if ad.rank > max_rank:
            raise ValueError(f"slot {k}: adapter rank {ad.rank} exceeds max_rank {max_rank}")
        if first is None:
            first = (k, ad)
        elif (ad.in_features, ad.out_features) != (first[1].in_features, first[1].out_features):
            raise ValueError(f"slot {k}: adapter A {_shape(ad.A)}, B {_shape(ad.B)} does not fit the same "
                             f"layer as slot {first[0]}: A {_shape(first[1].A)}, B {_shape(first[1].B)}")
    if first is None:
        raise ValueError("slot_adapters holds no adapter at all: cannot tell the layer's in/out sizes")
    return first[1].in_features, first[1].out_features, first[1].A.dtype


def check_slot_inputs(x: torch.Tensor, W: torch.Tensor, A_stacked: torch.Tensor, B_stacked: torch.Tensor,
                      token_slots: torch.Tensor) -> None:
    """x (T, in), W (out, in), A_stacked (S, R, in), B_stacked (S, out, R), token_slots (T,) in [-1, S)."""
    check_operands(left_name="x", left=x, right_name="W", right=W)
    T, d_in = x.shape
    d_out = W.shape[0]
    for name, t in (("A_stacked", A_stacked), ("B_stacked", B_stacked)):
        if not isinstance(t, torch.Tensor) or t.dim() != 3 or not t.is_floating_point():
            raise ValueError(f"{name} must be a 3-D floating-point tensor, got {_shape(t)}")
    S, R, a_in = A_stacked.shape
    if a_in != d_in or tuple(B_stacked.shape) != (S, d_out, R):
        raise ValueError(f"stacked weights do not fit x {_shape(x)} and W {_shape(W)}: A_stacked "
                         f"{_shape(A_stacked)} must be (S, R, {d_in}) and B_stacked {_shape(B_stacked)} "
                         f"must be (S, {d_out}, R)")
    check_ids(token_slots, T, name="token_slots")
    if T:
        lo, hi = int(token_slots.min()), int(token_slots.max())
        if lo < -1 or hi >= S:
            bad = lo if lo < -1 else hi
            raise ValueError(f"token_slots holds slot index {bad}; valid are -1 (no adapter) and 0..{S - 1}")


# --------------------------------------------------------------------------------------------
# The exercise: TODO 1 ... TODO 9, in this order.
# --------------------------------------------------------------------------------------------


def shrink(x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """The LoRA shrink: x (T, in), A (r, in) -> s = x @ A.T, shape (T, r), dtype x.dtype.

    Validate first: ``check_operands`` on ("x", x, "A", A).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 1: shrink — see labs/lab01_batched_lora_matmul/README.md")


def expand(s: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """The LoRA expand: s (T, r), B (out, r) -> s @ B.T, shape (T, out), dtype s.dtype.

    Validate first: ``check_operands`` on ("s", s, "B", B).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 2: expand — see labs/lab01_batched_lora_matmul/README.md")


def lora_delta(x: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float) -> torch.Tensor:
    """The adapter's correction: scaling * (x @ A.T) @ B.T, shape (T, out), dtype x.dtype.

    x (T, in), A (r, in), B (out, r). Never form B @ A (out x in): two thin products are
    r * (in + out) multiply-adds per row instead of in * out.
    Validate first: ``check_operands`` on ("x", x, "A", A), then ``check_adapter`` on (A, B, in).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 3: lora_delta — see labs/lab01_batched_lora_matmul/README.md")


def apply_lora(x: torch.Tensor, W: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
               scaling: float) -> torch.Tensor:
    """One adapter on the whole batch: x @ W.T + scaling * (x @ A.T) @ B.T, shape (T, out).

    x (T, in), W (out, in), A (r, in), B (out, r); output dtype x.dtype.
    Validate first: ``check_operands`` on ("x", x, "W", W), then ``check_adapter`` on (A, B, in, out).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 4: apply_lora — see labs/lab01_batched_lora_matmul/README.md")


def apply_multi_lora_loop(x: torch.Tensor, W: torch.Tensor, adapters: Mapping[int, LoRAAdapter],
                          adapter_ids: torch.Tensor) -> torch.Tensor:
    """The per-row reference: each row on its own, with its own adapter. Shape (T, out).

    adapters maps int id (>= 1) -> LoRAAdapter; adapter_ids (T,) int64, 0 meaning "no adapter"
    (base product only). Slow on purpose: every row reads all of W again.
    Validate first: ``check_multi_lora_inputs`` on (x, W, adapters, adapter_ids).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 5: apply_multi_lora_loop — see labs/lab01_batched_lora_matmul/README.md")


def segment_by_adapter(adapter_ids: torch.Tensor) -> Segments:
    """Group the rows of a batch by adapter id: the metadata an SGMV kernel runs on.

    adapter_ids (T,) integers, in any order. Returns ``Segments(order, ids, starts, lengths)``:
    groups in ascending id order (id 0, the base rows, is a group like any other), rows inside a
    group in their original order (a stable sort), so that for group g the rows
    ``order[starts[g] : starts[g] + lengths[g]]`` are exactly the rows whose id is ``ids[g]``.
    All four tensors are int64. Validate first: ``check_ids`` on (adapter_ids, -1); -1 = any length.
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 6: segment_by_adapter — see labs/lab01_batched_lora_matmul/README.md")


def apply_multi_lora_grouped(x: torch.Tensor, W: torch.Tensor, adapters: Mapping[int, LoRAAdapter],
                             adapter_ids: torch.Tensor) -> torch.Tensor:
    """The SGMV way: same result as ``apply_multi_lora_loop``, computed like an engine does.

    ONE base product x @ W.T for all T rows (base rows included); then, per distinct adapter in
    the batch, ONE shrink + expand on that adapter's rows only (use ``segment_by_adapter``);
    each delta is added back at its rows' ORIGINAL positions. Shape (T, out), dtype x.dtype.
    Validate first: ``check_multi_lora_inputs`` on (x, W, adapters, adapter_ids).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 7: apply_multi_lora_grouped — see labs/lab01_batched_lora_matmul/README.md")


def stack_slots(slot_adapters: Sequence[Optional[LoRAAdapter]], max_rank: int):
    """The engine's layout: S pre-allocated slots, each sized for ``max_rank``.

    slot_adapters: a list of S entries, each a LoRAAdapter or None (an empty slot).
    Returns ``(A_stacked, B_stacked)``: A_stacked (S, max_rank, in), B_stacked (S, out, max_rank),
    in the dtype of the adapters' A. Slot k holds its adapter in the first r rows of
    A_stacked[k] and the first r columns of B_stacked[k], with the adapter's scaling folded
    into B (so B_stacked[k, :, :r] = scaling * B); everything else is zero, empty slots included.
    Validate first: ``check_slot_adapters`` on (slot_adapters, max_rank); it returns (in, out, dtype).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 8: stack_slots — see labs/lab01_batched_lora_matmul/README.md")


def apply_multi_lora_slots(x: torch.Tensor, W: torch.Tensor, A_stacked: torch.Tensor,
                           B_stacked: torch.Tensor, token_slots: torch.Tensor) -> torch.Tensor:
    """The slot form an engine runs: base product plus, per row, the adapter in its slot.

    x (T, in), W (out, in), A_stacked (S, R, in), B_stacked (S, out, R) from ``stack_slots``
    (scaling already inside B), token_slots (T,) ints: the slot of each row, or -1 for a row
    with no adapter. -1 must never pick a slot (careful: in Python, A_stacked[-1] is the LAST
    slot). Shape (T, out), dtype x.dtype.
    Validate first: ``check_slot_inputs`` on (x, W, A_stacked, B_stacked, token_slots).
    """
    raise NotImplementedError("lab01_batched_lora_matmul TODO 9: apply_multi_lora_slots — see labs/lab01_batched_lora_matmul/README.md")
