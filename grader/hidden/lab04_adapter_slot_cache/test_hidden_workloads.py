"""Hidden tests, TODO 11-12: arrivals and popularity, exactly for a seed and statistically."""
import math
import random
from collections import Counter

import pytest

from lab04_adapter_slot_cache import slot_cache as sc
from lab04_adapter_slot_cache import workloads as wl


def gaps_of(times):
    return [b - a for a, b in zip([0.0] + list(times), times)]


def mean_cv(xs):
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, math.sqrt(var) / m


@pytest.mark.points(2)
@pytest.mark.hint("gaps: random.Random(seed).gammavariate(1 / cv**2, cv**2 / rate), one per request, summed from the first gap")
def test_hidden_arrivals_exact_for_a_seed():
    for rate, cv, seed in ((4.0, 1.0, 0), (0.5, 2.0, 7), (30, 0.5, 3)):
        rng, t, want = random.Random(seed), 0.0, []
        for _ in range(50):
            t += rng.gammavariate(1.0 / (cv * cv), cv * cv / rate)
            want.append(t)
        got = wl.arrival_times(50, rate, cv=cv, seed=seed)
        assert got == pytest.approx(want, rel=1e-12), f"rate={rate}, cv={cv}, seed={seed}"


@pytest.mark.points(2)
@pytest.mark.hint("rate is requests per SECOND: the mean gap is 1 / rate; the cv sets the gamma shape 1 / cv**2")
def test_hidden_gamma_mean_and_cv():
    # 40,000 gaps: the mean's standard error is cv / 200 of itself; tolerances are 4x that or more
    for rate, cv in ((2.0, 1.0), (10.0, 2.5), (0.25, 0.4)):
        m, c = mean_cv(gaps_of(wl.arrival_times(40_000, rate, cv=cv, seed=11)))
        assert m == pytest.approx(1 / rate, rel=max(0.02, 4 * cv / 200)), f"mean gap at rate={rate}, cv={cv}"
        assert c == pytest.approx(cv, rel=0.08), f"cv of the gaps at rate={rate}, cv={cv}"


@pytest.mark.points(1)
@pytest.mark.hint("cv = 0 spaces requests exactly 1 / rate apart, starting one gap after 0")
def test_hidden_regular_arrivals_and_bad_input():
    assert wl.arrival_times(4, 8.0, cv=0) == pytest.approx([0.125, 0.25, 0.375, 0.5])
    assert wl.arrival_times(0, 3.0) == []
    for bad in (dict(rate=0), dict(rate=-1.0), dict(rate=1.0, cv=-0.5)):
        with pytest.raises(ValueError):
            wl.arrival_times(5, **bad)


@pytest.mark.points(2)
@pytest.mark.hint("zipf: adapter k = 1 .. n_adapters with weight 1 / k**alpha, using the alpha you are given")
def test_hidden_zipf_frequencies():
    # 200,000 draws: every frequency within 5 standard errors of 1/k^alpha / sum_j 1/j^alpha
    n, draws = 10, 200_000
    for alpha in (1.5, 0.8):
        norm = sum(1 / j ** alpha for j in range(1, n + 1))
        counts = Counter(wl.draw_adapters("zipf", draws, n, alpha=alpha, seed=5))
        assert set(counts) == set(range(1, n + 1)), f"alpha={alpha}: adapters drawn {sorted(counts)}"
        for k in range(1, n + 1):
            p = 1 / k ** alpha / norm
            se = math.sqrt(p * (1 - p) / draws)
            assert abs(counts[k] / draws - p) < 5 * se, f"alpha={alpha}: adapter {k}'s share"


@pytest.mark.points(2)
@pytest.mark.hint("the four kinds: distinct is 1..n cycling, identical is all adapter 1; base_share applies to every kind")
def test_hidden_kinds_exact():
    assert wl.draw_adapters("distinct", 7, 3) == [1, 2, 3, 1, 2, 3, 1]
    assert wl.draw_adapters("identical", 4, 9) == [1, 1, 1, 1]
    assert wl.draw_adapters("uniform", 500, 6, seed=3) == sc.random_ids(500, [1.0] * 6, seed=3)
    w = sc.zipf_weights(20, 1.5)
    assert wl.draw_adapters("zipf", 500, 20, base_share=0.3, seed=4) == sc.random_ids(500, w, base_share=0.3, seed=4)
    rng = random.Random(9)
    want = [0 if rng.random() < 0.25 else i % 5 + 1 for i in range(300)]
    assert wl.draw_adapters("distinct", 300, 5, base_share=0.25, seed=9) == want
    ids = wl.draw_adapters("identical", 20_000, 3, base_share=0.4, seed=1)
    assert set(ids) == {0, 1} and ids.count(0) / 20_000 == pytest.approx(0.4, abs=0.02)


@pytest.mark.points(1)
@pytest.mark.hint("unknown kinds, negative alpha and a base_share outside [0, 1] are ValueErrors")
def test_hidden_draw_bad_input():
    for args, kw in ((("pareto", 5, 3), {}), (("zipf", 5, 3), dict(alpha=-1.0)),
                     (("uniform", 5, 3), dict(base_share=1.5)), (("uniform", 5, 0), {})):
        with pytest.raises(ValueError):
            wl.draw_adapters(*args, **kw)
