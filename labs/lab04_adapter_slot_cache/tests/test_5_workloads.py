"""Public tests, TODO 11-12: arrivals in time and who asks for which adapter."""
import math

import pytest

from lab04_adapter_slot_cache import workloads as wl


def gaps_of(times):
    return [b - a for a, b in zip([0.0] + list(times), times)]


@pytest.mark.points(1)
def test_regular_arrivals():
    # cv = 0: no randomness, one mean gap (1 / rate) apart, the first one gap after 0
    assert wl.arrival_times(3, 2.0, cv=0) == pytest.approx([0.5, 1.0, 1.5])


@pytest.mark.points(2)
def test_poisson_and_bursty_arrivals():
    # 20,000 gaps at 5 requests/s: the mean gap is 0.2 s; the gaps' std / mean is the cv asked for
    for cv in (1.0, 3.0):
        gaps = gaps_of(wl.arrival_times(20_000, 5.0, cv=cv, seed=1))
        mean = sum(gaps) / len(gaps)
        std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1))
        assert mean == pytest.approx(0.2, rel=0.1), f"cv={cv}: mean gap"
        assert std / mean == pytest.approx(cv, rel=0.1), f"cv={cv}: cv of the gaps"


@pytest.mark.points(2)
def test_four_popularity_shapes():
    assert wl.draw_adapters("distinct", 5, 2) == [1, 2, 1, 2, 1]
    assert wl.draw_adapters("identical", 3, 8) == [1, 1, 1]
    ids = wl.draw_adapters("uniform", 6000, 3, seed=2)
    assert set(ids) == {1, 2, 3} and all(abs(ids.count(k) / 6000 - 1 / 3) < 0.03 for k in (1, 2, 3))
    # Zipf at alpha = 1.5 over 4 adapters: shares 1 : 1/2.83 : 1/5.20 : 1/8, normalised
    ids = wl.draw_adapters("zipf", 20_000, 4, alpha=1.5, seed=3)
    norm = sum(k ** -1.5 for k in range(1, 5))
    assert [round(k ** -1.5 / norm, 3) for k in range(1, 5)] == [0.598, 0.212, 0.115, 0.075]   # the page
    for k in range(1, 5):
        assert ids.count(k) / 20_000 == pytest.approx(k ** -1.5 / norm, abs=0.015), f"adapter {k}"


@pytest.mark.points(1)
def test_base_share_is_not_an_adapter():
    ids = wl.draw_adapters("zipf", 10_000, 5, base_share=0.2, seed=4)
    assert set(ids) == {0, 1, 2, 3, 4, 5}
    assert ids.count(0) / 10_000 == pytest.approx(0.2, abs=0.02)
