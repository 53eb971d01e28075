"""Public tests, TODO 14-17: how many GPUs a fleet of tenants needs, with and without multi-LoRA."""
import pytest

from lab03_lora_economics import economics as econ


@pytest.mark.points(2)
def test_100_tenants_8_slots():
    # one GPU per tenant: 100; 8 adapters per engine: ceil(100 / 8) = 13 engines
    assert econ.engines_needed(100, 8) == 13
    assert econ.gpus_saved(100, 8) == 87


@pytest.mark.points(2)
def test_load_aware_takes_the_larger_bound():
    # light load (0.1 req/s each, an engine does 1 req/s): the slots bind, 13 engines
    assert econ.engines_needed_load_aware(100, 8, 0.1, 1.0) == 13
    # heavy load (0.5 req/s each, an engine does 2 req/s): 100 x 0.5 / 2 = 25 engines
    assert econ.engines_needed_load_aware(100, 8, 0.5, 2.0) == 25
    # dedicated still needs one GPU per tenant (each tenant's 0.5 req/s fits one engine)
    assert econ.gpus_saved_load_aware(100, 8, 0.5, 2.0) == 75


@pytest.mark.points(1)
def test_fleet_rejects_zero_slots():
    with pytest.raises(ValueError, match="max_loras"):
        econ.engines_needed(100, 0)
