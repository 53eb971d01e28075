"""Public tests, TODO 7-10: what LRU does to cyclic, uniform and skewed traffic."""
import pytest

from lab04_adapter_slot_cache import slot_cache as sc


@pytest.mark.points(2)
def test_cyclic_one_more_adapter_than_slots():
    assert sc.lru_hit_rate_cyclic(9, 8) == 0.0           # 0 % hits
    assert sc.lru_hit_rate_cyclic(8, 8) == 1.0
    assert sc.lru_hit_rate_cyclic(8, 8, rounds=10) == pytest.approx(0.9)   # only the first round misses
    assert sc.replay_hit_rate(sc.cyclic_ids(90, 9), 8) == 0.0
    assert sc.replay_hit_rate(sc.cyclic_ids(80, 8), 8) == pytest.approx(0.9)


@pytest.mark.points(2)
def test_uniform_and_zipf_100_tenants_8_slots():
    uniform, zipf = [1.0] * 100, sc.zipf_weights(100, 1.0)
    assert sc.static_hit_rate(uniform, 8) == pytest.approx(0.08)             # 8 %
    assert round(sc.static_hit_rate(zipf, 8), 3) == 0.524                     # 52.4 %
    ids = sc.random_ids(100_000, zipf, seed=0)
    assert sc.replay_hit_rate(ids, 8) == pytest.approx(0.34791, abs=1e-9)      # LRU: 34.8 %


@pytest.mark.points(1)
def test_static_hit_rate_of_unsorted_weights():
    # the best any cache can do keeps the MOST popular adapters, wherever they are in the list
    assert sc.static_hit_rate([1.0, 5.0, 2.0, 8.0], 2) == pytest.approx(13 / 16)


@pytest.mark.points(2)
def test_knees():
    uniform, zipf = [1.0] * 100, sc.zipf_weights(100, 1.0)
    assert sc.knee_slots(uniform, 0.9) == 90
    assert [sc.knee_slots(zipf, t) for t in (0.5, 0.8, 0.9)] == [8, 36, 60]
