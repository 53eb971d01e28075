"""Public tests, TODO 1-3, 6-7 (file order follows the TODOs): reading Llama-2-7B's config.json, and what its weights weigh.

Every number here is also on the lab page (README.md); work them out by hand first.
"""
import json

import pytest

from grader.labs import ROOT
from lab03_lora_economics import economics as econ

CONFIGS = ROOT / "labs" / "lab03_lora_economics" / "configs"


def config(name: str) -> dict:
    return json.loads((CONFIGS / f"{name}.json").read_text())


def llama2():
    return econ.model_shape_from_config(config("llama-2-7b"))


def llama2_by_hand():
    # the same shape without TODO 2, so the size tests need only linear_shapes and what they name
    return econ.ModelShape(hidden_size=4096, intermediate_size=11008, num_layers=32, num_heads=32,
                           num_kv_heads=32, head_dim=128, vocab_size=32000, name="Llama-2-7B")


@pytest.mark.points(1)
def test_format_bytes_prints_gib_and_gb():
    assert econ.format_bytes(13_476_831_232) == "12.55 GiB (13.48 GB)"
    assert econ.format_bytes(33_554_432) == "32.00 MiB (33.55 MB)"
    assert econ.format_bytes(1_000) == "1,000 B (1.00 kB)"
    assert econ.format_bytes(512) == "512 B"
    assert econ.GiB == 1_073_741_824 and econ.format_bytes(1_073_741_824) == "1.00 GiB (1.07 GB)"


@pytest.mark.points(2)
def test_llama2_shape_from_config():
    assert llama2() == econ.ModelShape(
        hidden_size=4096, intermediate_size=11008, num_layers=32, num_heads=32, num_kv_heads=32,
        head_dim=128, vocab_size=32000, tie_word_embeddings=False, num_experts=0,
        expert_intermediate_size=0, name="meta-llama/Llama-2-7b-hf")


@pytest.mark.points(1)
def test_llama2_linear_shapes():
    assert econ.linear_shapes(llama2_by_hand()) == {
        "q_proj": (4096, 4096), "k_proj": (4096, 4096), "v_proj": (4096, 4096), "o_proj": (4096, 4096),
        "gate_proj": (4096, 11008), "up_proj": (4096, 11008), "down_proj": (11008, 4096)}


@pytest.mark.points(2)
def test_llama2_base_params():
    # 2 x 32000 x 4096 (embedding + untied head) + 32 x (4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096) + 4096
    assert econ.base_params(llama2_by_hand()) == 6_738_415_616


@pytest.mark.points(1)
def test_llama2_base_params_breakdown():
    shapes = econ.linear_shapes(llama2_by_hand())
    attention = sum(i * o for name, (i, o) in shapes.items() if name in econ.ATTENTION)
    mlp = sum(i * o for name, (i, o) in shapes.items() if name in econ.MLP)
    assert attention == 67_108_864                      # 4 x 4096 x 4096 per layer
    assert mlp == 135_266_304                           # 3 x 4096 x 11008 per layer
    assert 32 * (attention + mlp + 2 * 4096) == 6_476_267_520
    # what is left besides the layers and the final norm: embedding + untied head, 2 x 32000 x 4096
    assert econ.base_params(llama2_by_hand()) - 6_476_267_520 - 4096 == 262_144_000


@pytest.mark.points(1)
def test_llama2_base_bytes_fp16_and_fp32():
    shape = llama2_by_hand()
    assert econ.base_bytes(shape) == 13_476_831_232                    # 16-bit is the default
    assert econ.format_bytes(econ.base_bytes(shape)) == "12.55 GiB (13.48 GB)"
    assert econ.base_bytes(shape, bytes_per_param=4) == 26_953_662_464
    assert econ.base_bytes(shape, "fp32") == 26_953_662_464


@pytest.mark.points(1)
def test_missing_config_key_is_named():
    cfg = config("llama-2-7b")
    del cfg["vocab_size"]
    with pytest.raises(ValueError, match="vocab_size"):
        econ.model_shape_from_config(cfg)


@pytest.mark.points(1)
def test_bad_target_and_rank_are_named():
    shape = llama2_by_hand()
    with pytest.raises(ValueError, match="qkv_proj"):
        econ.adapter_params(shape, 16, ["q_proj", "qkv_proj"])
    with pytest.raises(ValueError, match="rank"):
        econ.adapter_params(shape, 0, ["q_proj"])
