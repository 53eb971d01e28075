"""Hidden tests: configs other than Llama-2-7B (GQA, tied embeddings, MoE, odd head sizes, lab02's tiny model).

Expected base counts are the published parameter counts of each model (also what
transformers reports for a model built from the same config on the meta device).
"""
import dataclasses
import json

import pytest

from grader.labs import ROOT
from lab03_lora_economics import economics as econ

CONFIGS = ROOT / "labs" / "lab03_lora_economics" / "configs"
QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]
GUD = ["gate_proj", "up_proj", "down_proj"]


def shape(name: str):
    return econ.model_shape_from_config(json.loads((CONFIGS / f"{name}.json").read_text()))


@pytest.mark.points(2)
@pytest.mark.hint("read every key that changes a shape: KV heads, an explicit head_dim, tying, experts")
def test_hidden_shapes_from_configs():
    s = shape("llama-3-8b")
    assert (s.num_heads, s.num_kv_heads, s.head_dim, s.vocab_size, s.intermediate_size) == (32, 8, 128, 128256, 14336)
    assert (s.num_experts, s.tie_word_embeddings) == (0, False)
    s = shape("llama-3.2-1b")
    assert (s.hidden_size, s.num_layers, s.num_kv_heads, s.head_dim, s.tie_word_embeddings) == (2048, 16, 8, 64, True)
    s = shape("gemma-7b")
    assert (s.hidden_size, s.num_heads, s.head_dim, s.tie_word_embeddings) == (3072, 16, 256, True)
    s = shape("mixtral-8x7b")
    assert (s.num_experts, s.expert_intermediate_size, s.num_kv_heads) == (8, 14336, 8)
    s = shape("lab02-tiny-llama")
    assert (s.hidden_size, s.num_layers, s.num_heads, s.num_kv_heads, s.head_dim) == (256, 4, 4, 2, 64)


@pytest.mark.points(1)
@pytest.mark.hint("with no head_dim and no KV-head key, fall back to the plain multi-head defaults")
def test_hidden_config_defaults():
    cfg = {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 2,
           "num_attention_heads": 8, "vocab_size": 1000, "model_type": "llama"}
    s = econ.model_shape_from_config(cfg)
    assert (s.num_kv_heads, s.head_dim, s.tie_word_embeddings, s.num_experts) == (8, 64, False, 0)
    assert s.name == "llama"
    cfg.update(num_experts=4, moe_intermediate_size=256)
    s = econ.model_shape_from_config(cfg)
    assert (s.num_experts, s.expert_intermediate_size) == (4, 256)


@pytest.mark.points(2)
@pytest.mark.hint("grouped-query attention: k and v are sized by the KV heads, not the query heads")
def test_hidden_gqa_linear_shapes():
    ls = econ.linear_shapes(shape("llama-3-8b"))
    assert ls["k_proj"] == ls["v_proj"] == (4096, 1024)
    assert ls["q_proj"] == ls["o_proj"] == (4096, 4096)
    assert ls["down_proj"] == (14336, 4096)
    tiny = econ.linear_shapes(shape("lab02-tiny-llama"))
    assert tiny["k_proj"] == (256, 128) and tiny["gate_proj"] == (256, 512)


@pytest.mark.points(1)
@pytest.mark.hint("q_proj's output is heads x head_dim, which need not equal hidden_size")
def test_hidden_odd_head_dim_shapes():
    ls = econ.linear_shapes(shape("gemma-7b"))
    assert ls["q_proj"] == (3072, 4096) and ls["o_proj"] == (4096, 3072) and ls["k_proj"] == (3072, 4096)


@pytest.mark.points(2)
@pytest.mark.hint("grouped-query attention makes the k and v weights smaller too")
def test_hidden_base_params_gqa():
    assert econ.base_params(shape("llama-3-8b")) == 8_030_261_248


@pytest.mark.points(2)
@pytest.mark.hint("a tied LM head is the embedding matrix itself: store it once")
def test_hidden_base_params_tied():
    assert econ.base_params(shape("llama-3.2-1b")) == 1_235_814_400
    untied = dataclasses.replace(shape("llama-3.2-1b"), tie_word_embeddings=False)
    assert econ.base_params(untied) - econ.base_params(shape("llama-3.2-1b")) == 128256 * 2048


@pytest.mark.points(1)
@pytest.mark.hint("use the config's head_dim when it has one")
def test_hidden_base_params_odd_head_dim():
    assert econ.base_params(shape("gemma-7b")) == 8_537_680_896


@pytest.mark.points(2)
@pytest.mark.hint("a mixture of experts stores every expert's MLP, and a router per layer")
def test_hidden_base_params_moe():
    assert econ.base_params(shape("mixtral-8x7b")) == 46_702_792_704


@pytest.mark.points(1)
@pytest.mark.hint("count the tiny model the same way as the big ones")
def test_hidden_base_params_tiny():
    assert econ.base_params(shape("lab02-tiny-llama")) == 3_410_176


@pytest.mark.points(2)
@pytest.mark.hint("k and v adapters are narrower under grouped-query attention")
def test_hidden_llama3_qkvo_adapter():
    s = shape("llama-3-8b")
    # 32 x 16 x (2 x (4096 + 4096) + 2 x (4096 + 1024))
    assert econ.adapter_params(s, 16, QKVO) == 13_631_488
    assert econ.adapter_params(s, 16, "all-linear") == 41_943_040


@pytest.mark.points(2)
@pytest.mark.hint("an MLP target reaches every expert's copy; attention targets are not per expert")
def test_hidden_moe_adapter_counts_experts():
    s = shape("mixtral-8x7b")
    assert econ.adapter_params(s, 16, QKVO) == 13_631_488
    assert econ.adapter_params(s, 16, GUD) == 8 * 3 * 16 * (4096 + 14336) * 32 == 226_492_416
    assert econ.adapter_params(s, 16, "all-linear") == 240_123_904


@pytest.mark.points(2)
@pytest.mark.hint("A is r x in and B is out x r: both count, and in != out for most layers")
def test_hidden_rank_1_and_256():
    s = shape("llama-3-8b")
    assert econ.adapter_params(s, 1, QKVO) == 851_968
    assert econ.adapter_params(s, 256, QKVO) == 218_103_808
    assert econ.adapter_params(s, 1, ["down_proj"]) == 32 * (14336 + 4096)


@pytest.mark.points(2)
@pytest.mark.hint("work each target's (in, out) out separately; nothing here is square")
def test_hidden_odd_sizes():
    s = econ.ModelShape(hidden_size=2049, intermediate_size=5000, num_layers=3, num_heads=3,
                        num_kv_heads=1, head_dim=683, vocab_size=50257)
    assert econ.linear_shapes(s)["v_proj"] == (2049, 683)
    # 3 layers x 3 x ((2049 + 683) + (5000 + 2049))
    assert econ.adapter_params(s, 3, ["v_proj", "down_proj"]) == 88_029
    # targets are a set: order and repeats do not matter
    assert econ.adapter_params(s, 3, ["down_proj", "v_proj", "v_proj"]) == 88_029
    assert econ.base_params(s) == 2 * 50257 * 2049 + 3 * (2 * 2049 * 2049 + 2 * 2049 * 683
                                                          + 3 * 2049 * 5000 + 2 * 2049) + 2049


@pytest.mark.points(1)
@pytest.mark.hint("a PEFT adapter_config.json names its rank and its target modules")
def test_hidden_lab02_adapter_from_peft_config():
    cfg = json.loads((CONFIGS / "lab02-adapter.json").read_text())
    rank, targets = econ.peft_rank_and_targets(cfg)
    assert rank == 8 and tuple(targets) == tuple(QKVO)
    s = shape("lab02-tiny-llama")
    # 4 layers x 8 x (2 x (256 + 256) + 2 x (256 + 128)) = 57,344 params, float32
    assert econ.adapter_bytes(s, rank, targets, "float32") == 229_376 == 224 * econ.KiB
    rank, targets = econ.peft_rank_and_targets({"r": 4, "target_modules": ["down_proj", "q_proj"]})
    assert rank == 4 and tuple(targets) == ("q_proj", "down_proj")
