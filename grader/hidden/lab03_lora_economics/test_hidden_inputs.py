"""Hidden tests: bad input raises ValueError naming the problem."""
import json

import pytest

from grader.labs import ROOT
from lab03_lora_economics import economics as econ

CONFIGS = ROOT / "labs" / "lab03_lora_economics" / "configs"


def config(name: str) -> dict:
    return json.loads((CONFIGS / f"{name}.json").read_text())


@pytest.mark.points(1)
@pytest.mark.hint("each required config key, when missing, is named in the error")
def test_hidden_missing_keys_named():
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        cfg = config("llama-3-8b")
        del cfg[key]
        with pytest.raises(ValueError, match=key):
            econ.model_shape_from_config(cfg)


@pytest.mark.points(1)
@pytest.mark.hint("shared experts are outside this calculator's model: say so")
def test_hidden_shared_experts_rejected():
    cfg = config("mixtral-8x7b")
    cfg["shared_expert_intermediate_size"] = 5632
    with pytest.raises(ValueError, match="shared_expert_intermediate_size"):
        econ.model_shape_from_config(cfg)


@pytest.mark.points(1)
@pytest.mark.hint("targets are a list of known names or 'all-linear'; ranks are ints >= 1")
def test_hidden_bad_targets_and_ranks():
    s = econ.model_shape_from_config(config("llama-3-8b"))
    with pytest.raises(ValueError, match="lm_head"):
        econ.adapter_bytes(s, 8, ["q_proj", "lm_head"])
    with pytest.raises(ValueError, match="all_linear"):
        econ.adapter_params(s, 8, "all_linear")
    for bad in (0, -4, 1.5, True):
        with pytest.raises(ValueError, match="rank"):
            econ.adapter_params(s, bad, ["q_proj"])
    with pytest.raises(ValueError, match="max_lora_rank"):
        econ.slot_bytes(s, 4, 0, ["q_proj"])
    with pytest.raises(ValueError, match="max_loras"):
        econ.slot_bytes(s, 0, 16, ["q_proj"])
    with pytest.raises(ValueError, match="int4"):
        econ.adapter_bytes(s, 8, ["q_proj"], "int4")
    with pytest.raises(ValueError, match="rank_pattern"):
        econ.peft_rank_and_targets({"r": 8, "target_modules": ["q_proj"], "rank_pattern": {"q_proj": 4}})


@pytest.mark.points(1)
@pytest.mark.hint("negative tenants and a zero-throughput engine make no sense")
def test_hidden_bad_fleet_input():
    with pytest.raises(ValueError, match="tenants"):
        econ.engines_needed(-1, 8)
    with pytest.raises(ValueError, match="engine_requests_per_s"):
        econ.engines_needed_load_aware(10, 8, 1.0, 0.0)
    with pytest.raises(ValueError, match="requests_per_s_per_tenant"):
        econ.engines_needed_load_aware(10, 8, -1.0, 2.0)
