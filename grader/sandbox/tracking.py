"""Count how code reads a weight: the product log lab 01's structure tests use, on both sides.

The judge's tests make a ``ProductLog`` and track weights with it. When a tracked tensor crosses
into the sandbox it is tracked there again by a log of the same key (``SandboxLogs``), and the
uses recorded while the student's function ran come back with its result and are added to the
judge's log. Those uses are observed inside the student's process: code that hides its products
from the counter can fool a count (never a value check). The grader's page says so.
"""
from __future__ import annotations

import torch

# Operations that only re-present a weight (``W.T`` arrives as a property getter, ``__get__``).
_VIEWS_AND_CASTS = frozenset({
    "__get__", "t", "transpose", "permute", "to", "float", "double", "half", "bfloat16", "type",
    "type_as", "contiguous", "clone", "detach", "view", "reshape", "flatten", "squeeze", "unsqueeze",
    "__getitem__", "narrow",
})


class _Tracked(torch.Tensor):
    """A tensor that reports to a ProductLog every operation that reads it into something new."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tracked = [a for a in _flatten((args, kwargs)) if isinstance(a, _Tracked) and hasattr(a, "_p11_label")]
        with torch._C.DisableTorchFunctionSubclass():
            result = func(*args, **kwargs)
        if not tracked or not isinstance(result, torch.Tensor) or not result.is_floating_point():
            return result
        src = tracked[0]
        name = getattr(func, "__name__", str(func))
        if len(tracked) == 1 and name in _VIEWS_AND_CASTS and result.numel() == src._p11_numel:
            # A view, cast or copy of the tracked weight (W.T, W.float(), W.contiguous()): keep tracking.
            return src._p11_log._wrap(result, src._p11_label, src._p11_numel)
        for t in {id(t): t for t in tracked}.values():
            t._p11_log.uses.setdefault(t._p11_label, []).append((name, tuple(result.shape)))
        return result


def _flatten(obj):
    if isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _flatten(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _flatten(o)
    else:
        yield obj


class ProductLog:
    """Counts how often code under test reads a weight into a new result (a product, a gather...).

        log = ProductLog()
        W_t = log.track(W, "W")          # behaves exactly like W
        y = lab.apply_multi_lora_grouped(x, W_t, adapters, ids)
        log.uses["W"]                    # [("matmul", (T, out))]: one base product over T rows

    Views, casts and copies of a tracked tensor (``W.T``, ``W.float()``) stay tracked and are not
    counted; any other operation that produces a floating-point tensor from it is one use.
    """

    def __init__(self):
        self.uses: dict[str, list[tuple[str, tuple]]] = {}

    def _wrap(self, t: torch.Tensor, label: str, numel: int) -> torch.Tensor:
        w = t.as_subclass(_Tracked)
        w._p11_label, w._p11_numel, w._p11_log = label, numel, self
        return w

    def track(self, t: torch.Tensor, label: str) -> torch.Tensor:
        self.uses.setdefault(label, [])
        return self._wrap(t.detach().clone(), label, t.numel())

    def count(self, label: str) -> int:
        return len(self.uses.get(label, []))
