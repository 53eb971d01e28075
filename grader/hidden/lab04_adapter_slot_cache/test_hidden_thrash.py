"""Hidden tests, TODO 7-10: the thrash arithmetic, checked against replays and brute force."""
import random
from itertools import combinations

import pytest

from lab04_adapter_slot_cache import slot_cache as sc


@pytest.mark.points(2)
@pytest.mark.hint("n > slots: every access of a cycle misses under LRU, however many rounds")
def test_hidden_cyclic_formula_matches_replay():
    for n in range(1, 9):
        for slots in range(1, 9):
            for rounds in (1, 2, 5):
                ids = sc.cyclic_ids(n * rounds, n)
                assert sc.lru_hit_rate_cyclic(n, slots, rounds) == pytest.approx(
                    sc.replay_hit_rate(ids, slots)), f"n={n}, slots={slots}, rounds={rounds}"
            assert sc.lru_hit_rate_cyclic(n, slots) == (1.0 if n <= slots else 0.0)


@pytest.mark.points(1)
@pytest.mark.hint("replay through a fresh cache; base requests are not counted")
def test_hidden_replay_hit_rate():
    assert sc.replay_hit_rate([0, 0, 1, 0, 1, 1, 2, 1], 2) == pytest.approx(3 / 5)
    assert sc.replay_hit_rate([0, 0], 3) == 0.0
    assert sc.replay_hit_rate(iter([1, 2, 3, 1, 2, 3]), 2) == 0.0


@pytest.mark.points(2)
@pytest.mark.hint("the best static choice keeps the most POPULAR adapters, wherever they sit in the list")
def test_hidden_static_hit_rate_brute_force():
    rng = random.Random(8)
    for _ in range(40):
        w = [rng.choice([0.0, rng.random(), 10 * rng.random()]) for _ in range(rng.randint(1, 7))]
        if sum(w) == 0:
            w[0] = 1.0
        for slots in range(1, len(w) + 2):
            best = max(sum(c) for c in combinations(w, min(slots, len(w)))) / sum(w)
            assert sc.static_hit_rate(w, slots) == pytest.approx(best), f"weights {w}, {slots} slots"


@pytest.mark.points(2)
@pytest.mark.hint("the fewest slots whose share reaches the target: exactly reaching it counts")
def test_hidden_knee_edges():
    assert sc.knee_slots([1.0] * 10, 0.5) == 5
    assert sc.knee_slots([1.0] * 10, 0.51) == 6
    assert sc.knee_slots([1.0] * 10, 1.0) == 10
    assert sc.knee_slots([0.0, 3.0, 0.0, 1.0], 1.0) == 2
    assert sc.knee_slots([1, 2, 7], 0.7) == 1
    assert sc.knee_slots([2, 1, 7], 0.7 + 1e-9) == 2
    z = sc.zipf_weights(1000, 1.2)
    for target in (0.3, 0.6, 0.9):
        k = sc.knee_slots(z, target)
        assert sc.static_hit_rate(z, k) >= target > sc.static_hit_rate(z, k - 1) if k > 1 else True


@pytest.mark.points(1)
@pytest.mark.hint("skewed traffic: LRU lands between uniform traffic and the static best")
def test_hidden_zipf_between_bounds():
    z = sc.zipf_weights(200, 1.0)
    ids = sc.random_ids(60_000, z, seed=3)
    for slots in (4, 16, 64):
        lru = sc.replay_hit_rate(ids, slots)
        assert slots / 200 < lru < sc.static_hit_rate(z, slots) + 0.01


@pytest.mark.points(1)
@pytest.mark.hint("counts are ints >= 1, targets in (0, 1], weights non-negative and not all zero")
def test_hidden_thrash_bad_input():
    for call in (lambda: sc.lru_hit_rate_cyclic(0, 4), lambda: sc.lru_hit_rate_cyclic(4, 0),
                 lambda: sc.lru_hit_rate_cyclic(4, 4, rounds=0), lambda: sc.static_hit_rate([], 2),
                 lambda: sc.static_hit_rate([1.0, -1.0], 1), lambda: sc.static_hit_rate([0.0], 1),
                 lambda: sc.static_hit_rate([1.0], 0), lambda: sc.knee_slots([1.0], 0.0),
                 lambda: sc.knee_slots([1.0], 1.5), lambda: sc.replay_hit_rate([1], 0)):
        with pytest.raises(ValueError):
            call()
