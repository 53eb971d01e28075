"""Public tests, TODO 4-5, 8-13: a LoRA adapter on Llama-2-7B, and what engines reserve for it."""
import pytest

from lab03_lora_economics import economics as econ

QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]


def llama2():
    # built by hand, so these tests need only linear_shapes and the functions they name
    return econ.ModelShape(hidden_size=4096, intermediate_size=11008, num_layers=32, num_heads=32,
                           num_kv_heads=32, head_dim=128, vocab_size=32000, name="Llama-2-7B")


@pytest.mark.points(2)
def test_llama2_qkvo_rank16_is_32_mib():
    shape = llama2()
    # 16 x (4096 + 4096) per projection, x 4 projections, x 32 layers
    assert econ.adapter_params(shape, 16, ["q_proj"]) == 32 * 131_072     # 131,072 per layer
    assert econ.adapter_params(shape, 16, QKVO) == 16_777_216
    assert econ.adapter_bytes(shape, 16, QKVO) == 33_554_432 == 32 * econ.MiB
    assert econ.adapter_bytes(shape, 16, QKVO, bytes_per_param=4) == 64 * econ.MiB


@pytest.mark.points(1)
def test_llama2_all_linear_rank16():
    shape = llama2()
    # attention as above, plus 3 MLP projections of 16 x (4096 + 11008), x 32 layers
    assert econ.adapter_params(shape, 16, "all-linear") == 39_976_960
    assert econ.adapter_params(shape, 16, "all-linear") == econ.adapter_params(shape, 16, list(econ.ALL_LINEAR))
    assert econ.format_bytes(econ.adapter_bytes(shape, 16, "all-linear")) == "76.25 MiB (79.95 MB)"


@pytest.mark.points(1)
def test_adapter_size_is_linear_in_rank():
    shape = llama2()
    assert econ.adapter_params(shape, 8, QKVO) == 8_388_608
    assert econ.adapter_params(shape, 64, QKVO) == 67_108_864


@pytest.mark.points(2)
def test_llama2_shrink_ratio_and_the_unit_slip():
    shape = llama2()
    assert econ.shrink_ratio(shape, 16, QKVO) == pytest.approx(401.64, abs=0.005)
    # "~430x": 13.48 GB read as 13.48 GiB = 13.48 x 1024 MiB, over 32 MiB
    assert econ.slipped_shrink_ratio(shape, 16, QKVO) == pytest.approx(431.26, abs=0.005)
    # the slip is exactly the factor between the units: GiB / GB = 1.0737..., 7.4 % too high
    slip = econ.slipped_shrink_ratio(shape, 16, QKVO) / econ.shrink_ratio(shape, 16, QKVO)
    assert slip == pytest.approx(1.0737, abs=5e-5)


@pytest.mark.points(1)
def test_llama2_adapters_per_gib():
    assert econ.adapters_per_gib(llama2(), 16, QKVO) == 32


@pytest.mark.points(1)
def test_one_layer_weight_vs_adapter():
    # W is 4096 x 4096, A + B is r x (4096 + 4096): W is 2048 / r times larger
    assert econ.layer_size_ratio(4096, 4096, 16) == pytest.approx(128.0)
    assert econ.layer_size_ratio(4096, 4096, 1) == pytest.approx(2048.0)
    assert econ.layer_size_ratio(4096, 4096, 64) == pytest.approx(32.0)


@pytest.mark.points(1)
def test_flop_overhead_of_one_adapter():
    # r (in + out) / (in x out) = 16 x 8192 / 4096^2 = 0.78125 %
    assert econ.lora_flop_overhead(4096, 4096, 16) == pytest.approx(0.0078125)


@pytest.mark.points(2)
def test_slots_are_reserved_at_max_rank():
    shape = llama2()
    # 8 slots x rank 64 x (q, k, v, o) in 16-bit: 8 x 128 MiB, exactly 1 GiB
    assert econ.adapter_bytes(shape, 64, QKVO) == 128 * econ.MiB
    assert econ.slot_bytes(shape, 8, 64, QKVO) == econ.GiB
    # rank-8 adapters would use an eighth of it: the slot size does not depend on them
    assert 8 * econ.adapter_bytes(shape, 8, QKVO) == econ.GiB // 8
