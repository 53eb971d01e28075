"""Hidden tests: engine counts round up, and load can be the tighter bound."""
import pytest

from lab03_lora_economics import economics as econ


@pytest.mark.points(2)
@pytest.mark.hint("a partly filled engine is still an engine; an exact fit needs no extra one")
def test_hidden_engines_round_up():
    cases = {(16, 8): 2, (17, 8): 3, (7, 8): 1, (1, 1): 1, (100, 7): 15, (0, 8): 0, (1000, 32): 32}
    for (tenants, max_loras), want in cases.items():
        assert econ.engines_needed(tenants, max_loras) == want, (tenants, max_loras)


@pytest.mark.points(1)
@pytest.mark.hint("saved = dedicated GPUs minus shared engines")
def test_hidden_gpus_saved():
    assert econ.gpus_saved(16, 8) == 14
    assert econ.gpus_saved(1, 8) == 0
    assert econ.gpus_saved(0, 8) == 0


@pytest.mark.points(2)
@pytest.mark.hint("load needs whole engines too, and the fleet must satisfy both bounds")
def test_hidden_load_aware_bounds():
    assert econ.engines_needed_load_aware(100, 8, 0.0, 1.0) == 13           # no load: slots bind
    assert econ.engines_needed_load_aware(100, 8, 0.3, 2.0) == 15           # 15.0 exactly
    assert econ.engines_needed_load_aware(100, 8, 0.33, 2.0) == 17          # 16.5 rounds up
    assert econ.engines_needed_load_aware(10, 8, 3.0, 4.0) == 8             # 7.5 rounds up
    assert econ.engines_needed_load_aware(17, 8, 0.1, 10.0) == 3            # slots bind


@pytest.mark.points(1)
@pytest.mark.hint("floats: 50 x 1.1 is not exactly 55")
def test_hidden_load_aware_float_noise():
    assert econ.engines_needed_load_aware(50, 8, 1.1, 1.0) == 55
    assert econ.engines_needed_load_aware(30, 8, 0.7, 0.7) == 30


@pytest.mark.points(2)
@pytest.mark.hint("a tenant with more load than one engine serves needs more than one dedicated GPU")
def test_hidden_gpus_saved_load_aware():
    # each tenant needs 2.5 engines of its own -> 3 dedicated GPUs each, 30 in all;
    # shared: max(ceil(10 / 8), ceil(25)) = 25
    assert econ.gpus_saved_load_aware(10, 8, 5.0, 2.0) == 5
    assert econ.gpus_saved_load_aware(100, 8, 0.1, 1.0) == 87
    assert econ.gpus_saved_load_aware(100, 8, 0.5, 2.0) == 75
