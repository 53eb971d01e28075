"""Small helpers shared by the labs' public and hidden tests (no answers live here)."""
from __future__ import annotations

import torch

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
