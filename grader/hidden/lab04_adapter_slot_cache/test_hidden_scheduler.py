"""Hidden tests, TODO 5: the max_loras admission rule of vLLM 0.32.0's scheduler."""
import random
from collections import deque

import pytest

from lab04_adapter_slot_cache import slot_cache as sc


def ref_schedule(waiting, max_loras, max_num_seqs, running=()):
    step = {a for a in running if a > 0}
    admitted, deferred = [], []
    for req in waiting:
        if len(running) + len(admitted) >= max_num_seqs:
            break
        a = req[1]
        if a == 0 or a in step or len(step) < max_loras:
            if a:
                step.add(a)
            admitted.append(req)
        else:
            deferred.append(req)
    return admitted, deferred


def random_queue(rng, n, n_adapters, base_share=0.2):
    return [sc.Request(k, 0 if rng.random() < base_share else rng.randint(1, n_adapters)) for k in range(n)]


@pytest.mark.points(4)
@pytest.mark.hint("walk the whole queue in order; skip what does not fit and keep going")
def test_hidden_schedule_random_vs_reference():
    rng = random.Random(3)
    for case in range(400):
        max_loras, max_num_seqs = rng.randint(1, 5), rng.randint(1, 12)
        n_running = rng.randint(0, max_num_seqs)
        pool = [0] + rng.sample(range(1, 9), max_loras)
        running = [rng.choice(pool) for _ in range(n_running)]
        queue = random_queue(rng, rng.randint(0, 30), rng.choice([2, 6, 12]))
        admitted, deferred = sc.schedule_step(queue, max_loras, max_num_seqs, running)
        want_a, want_d = ref_schedule(queue, max_loras, max_num_seqs, running)
        assert list(admitted) == want_a and list(deferred) == want_d, (
            f"case {case}: max_loras={max_loras}, max_num_seqs={max_num_seqs}, running={running}")
        assert all(x is y for x, y in zip(admitted, want_a)), "return the request objects themselves"


@pytest.mark.points(2)
@pytest.mark.hint("one request that does not fit must not block the requests behind it")
def test_hidden_no_head_of_line_barrier():
    queue = [(0, 7)] + [(k, 1 + k % 2) for k in range(1, 9)]
    admitted, deferred = sc.schedule_step(queue, 2, 16, running_adapters=[1, 2])
    assert deferred == [(0, 7)]
    assert admitted == queue[1:]


@pytest.mark.points(2)
@pytest.mark.hint("admitted and deferred both keep queue order")
def test_hidden_deferred_keep_queue_order():
    queue = [(k, a) for k, a in enumerate([1, 5, 6, 1, 7, 5, 8, 1, 9, 6])]
    admitted, deferred = sc.schedule_step(queue, 1, 10)
    assert admitted == [(0, 1), (3, 1), (7, 1)]
    assert deferred == [(1, 5), (2, 6), (4, 7), (5, 5), (6, 8), (8, 9), (9, 6)]
    # the next queue: the deferred at the front, in their order, then whatever was not reached
    rest = [r for r in queue if r not in admitted]
    assert rest == deferred


@pytest.mark.points(2)
@pytest.mark.hint("the base model (id 0) is never an adapter: it never fills the max_loras set")
def test_hidden_base_never_counted():
    queue = [(0, 0), (1, 0), (2, 3), (3, 0), (4, 4), (5, 0), (6, 3)]
    admitted, deferred = sc.schedule_step(queue, 1, 10)
    assert admitted == [(0, 0), (1, 0), (2, 3), (3, 0), (5, 0), (6, 3)] and deferred == [(4, 4)]
    # running base requests do not use the one adapter place either
    admitted, deferred = sc.schedule_step([(0, 5), (1, 6)], 1, 10, running_adapters=[0, 0, 0])
    assert admitted == [(0, 5)] and deferred == [(1, 6)]


@pytest.mark.points(2)
@pytest.mark.hint("running requests' adapters are already in this step's set")
def test_hidden_running_adapters_counted():
    queue = [(0, 1), (1, 2), (2, 3), (3, 0)]
    admitted, deferred = sc.schedule_step(queue, 2, 10, running_adapters=[3, 2, 2])
    assert admitted == [(1, 2), (2, 3), (3, 0)] and deferred == [(0, 1)]
    admitted, deferred = sc.schedule_step(queue, 3, 10, running_adapters=[3])
    assert admitted == [(0, 1), (1, 2), (2, 3), (3, 0)] and deferred == []


@pytest.mark.points(2)
@pytest.mark.hint("max_num_seqs counts the running requests too, and the walk stops when it is reached")
def test_hidden_max_num_seqs_respected():
    queue = [(k, 0) for k in range(10)]
    for running in (0, 1, 4, 6):
        admitted, deferred = sc.schedule_step(queue, 2, 6, running_adapters=[0] * running)
        assert admitted == queue[:6 - running] and deferred == []
    # a full step: nothing admitted, and nothing counted as deferred either
    admitted, deferred = sc.schedule_step([(0, 9), (1, 0)], 1, 2, running_adapters=[1, 1])
    assert admitted == [] and deferred == []


@pytest.mark.points(1)
@pytest.mark.hint("any iterable of pairs is a queue: a deque, a generator")
def test_hidden_queue_types():
    items = [(0, 1), (1, 2), (2, 1)]
    for queue in (deque(items), (x for x in items), tuple(items)):
        admitted, deferred = sc.schedule_step(queue, 1, 5)
        assert list(admitted) == [(0, 1), (2, 1)] and list(deferred) == [(1, 2)]


@pytest.mark.points(1)
@pytest.mark.hint("bad limits, impossible running sets and bad ids are ValueErrors that name them")
def test_hidden_schedule_bad_input():
    with pytest.raises(ValueError, match="max_loras"):
        sc.schedule_step([], 0, 4)
    with pytest.raises(ValueError, match="max_num_seqs"):
        sc.schedule_step([], 2, 0)
    with pytest.raises(ValueError, match="max_num_seqs"):
        sc.schedule_step([], 2, 2, running_adapters=[0, 0, 0])
    with pytest.raises(ValueError, match="max_loras"):
        sc.schedule_step([], 2, 8, running_adapters=[1, 2, 3])
    with pytest.raises(ValueError):
        sc.schedule_step([(0, -2)], 2, 8)
    with pytest.raises(ValueError, match="pair"):
        sc.schedule_step([5], 2, 8)
