"""Public tests, TODO 1-4: one adapter on a whole batch. Small numbers you can check by hand."""
import pytest
import torch

from grader.testing import assert_close
from lab01_batched_lora_matmul import batched_lora as bl

# A layer with in = 3, out = 2 and a rank-1 adapter, all small integers.
x = torch.tensor([[1.0, 2.0, 3.0],
                  [0.0, 1.0, 0.0]])                 # (T=2, in=3)
W = torch.tensor([[1.0, 0.0, 0.0],
                  [0.0, 0.0, 1.0]])                 # (out=2, in=3): picks x[0] and x[2]
A = torch.tensor([[1.0, 1.0, 1.0]])                 # (r=1, in=3): sums the row
B = torch.tensor([[1.0], [-1.0]])                   # (out=2, r=1)


@pytest.mark.points(1)
def test_shrink_by_hand():
    s = bl.shrink(x, A)
    assert_close(s, torch.tensor([[6.0], [1.0]]), what="shrink(x, A): row sums")


@pytest.mark.points(1)
def test_expand_by_hand():
    s = torch.tensor([[6.0], [1.0]])
    assert_close(bl.expand(s, B), torch.tensor([[6.0, -6.0], [1.0, -1.0]]), what="expand(s, B)")


@pytest.mark.points(1)
def test_lora_delta_applies_scaling():
    d = bl.lora_delta(x, A, B, 0.5)
    assert_close(d, torch.tensor([[3.0, -3.0], [0.5, -0.5]]), what="0.5 * (x @ A.T) @ B.T")


@pytest.mark.points(1)
def test_apply_lora_is_base_plus_delta():
    y = bl.apply_lora(x, W, A, B, 0.5)
    # base x @ W.T = [[1, 3], [0, 0]], plus the delta above
    assert_close(y, torch.tensor([[4.0, 0.0], [0.5, -0.5]]), what="apply_lora")


@pytest.mark.points(1)
def test_apply_lora_equals_merged_weight():
    # W' = W + scaling * B @ A is the merged layer; applying the adapter must give x @ W'.T.
    y = bl.apply_lora(x, W, A, B, 0.5)
    assert_close(y, x @ (W + 0.5 * B @ A).T, what="apply_lora vs merged weight")


@pytest.mark.points(1)
def test_bfloat16_in_bfloat16_out():
    y = bl.apply_lora(x.bfloat16(), W.bfloat16(), A.bfloat16(), B.bfloat16(), 0.5)
    assert y.dtype == torch.bfloat16, f"output dtype must be x.dtype (bfloat16), got {y.dtype}"
    assert_close(y, torch.tensor([[4.0, 0.0], [0.5, -0.5]]), dtype=torch.bfloat16)


@pytest.mark.points(1)
def test_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        bl.shrink(x, torch.ones(1, 4))               # A has in = 4, x has in = 3
