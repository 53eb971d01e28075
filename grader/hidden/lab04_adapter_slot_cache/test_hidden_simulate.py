"""Hidden tests, TODO 6: the simulator against an independent step-by-step model written here."""
import random

import pytest

from lab04_adapter_slot_cache import slot_cache as sc


def ref_simulate(trace, max_loras, max_num_seqs, service):
    """Plain lists, one step at a time, no shortcuts; its own LRU (timestamps)."""
    queue, running = [], []            # running: [finish_step, adapter] in admission order
    table, last, tick = [None] * max_loras, {}, 0
    hits = loads = evictions = 0
    waits, deferrals = {}, []
    step = nxt = 0
    while True:
        running = [r for r in running if r[0] > step]
        if nxt == len(trace) and not queue and not running:
            break
        while nxt < len(trace) and trace[nxt][0] <= step:
            queue.append((nxt, trace[nxt][1]))
            nxt += 1
        in_step = {a for _, a in running if a}
        admitted, deferred = [], []
        for req in queue:
            if len(running) + len(admitted) >= max_num_seqs:
                break
            if req[1] == 0 or req[1] in in_step or len(in_step) < max_loras:
                if req[1]:
                    in_step.add(req[1])
                admitted.append(req)
            else:
                deferred.append(req)
        queue = [r for r in queue if r not in admitted]
        used = []
        for a in [a for _, a in running] + [a for _, a in admitted]:
            if a and a not in used:
                used.append(a)
        for a in used:
            tick += 1
            if a in last:
                hits += 1
            else:
                loads += 1
                if None not in table:
                    victim = min(last, key=last.get)
                    del last[victim]
                    table[table.index(victim)] = None
                    evictions += 1
                table[table.index(None)] = a
            last[a] = tick
        for rid, a in admitted:
            waits[rid] = step - trace[rid][0]
            running.append([step + service, a])
        deferrals.append(len(deferred))
        step += 1
    return dict(steps=step, hits=hits, loads=loads, evictions=evictions, deferrals=deferrals,
                waits=[waits[k] for k in range(len(trace))])


def random_trace(rng, n, n_adapters, per_step_max, gap_chance=0.05, base_share=0.15, skew=1.0):
    w = [1.0 / (k + 1) ** skew for k in range(n_adapters)]
    out, step = [], 0
    while len(out) < n:
        if rng.random() < gap_chance:
            step += rng.randint(1, 6)                  # quiet periods: idle steps
        for _ in range(rng.randint(0, per_step_max)):
            a = rng.choices(range(1, n_adapters + 1), weights=w)[0]
            out.append((step, 0 if rng.random() < base_share else a))
        step += 1
    return out[:n]


def as_dict(r):
    return dict(steps=r.steps, hits=r.hits, loads=r.loads, evictions=r.evictions,
                deferrals=list(r.deferrals), waits=list(r.waits))


@pytest.mark.points(4)
@pytest.mark.hint("per step: arrivals join the back, the scheduler walks the queue, the step's adapters are accessed once each")
def test_hidden_simulate_random_vs_reference():
    rng = random.Random(12)
    for case in range(30):
        max_loras, max_num_seqs = rng.randint(1, 4), rng.randint(1, 8)
        service = rng.choice([1, 1, 2, 3])
        trace = random_trace(rng, 600, rng.choice([2, 5, 12]), rng.randint(1, max(1, max_num_seqs // service)),
                             skew=rng.choice([0.0, 1.0]))
        got = as_dict(sc.simulate(trace, max_loras, max_num_seqs, service_steps=service))
        want = ref_simulate(trace, max_loras, max_num_seqs, service)
        for key in want:
            assert got[key] == want[key], (f"case {case}: {key} differs (max_loras={max_loras}, "
                                           f"max_num_seqs={max_num_seqs}, service_steps={service})")


@pytest.mark.points(2)
@pytest.mark.hint("a step touches each of its adapters once, however many of its requests use it")
def test_hidden_one_access_per_adapter_per_step():
    trace = [(0, 1)] * 4 + [(1, 2)] * 4 + [(2, 1)] * 4
    r = sc.simulate(trace, max_loras=1, max_num_seqs=4)
    assert (r.hits, r.loads, r.evictions) == (0, 3, 2)
    assert r.waits == [0] * 12 and r.steps == 3


@pytest.mark.points(2)
@pytest.mark.hint("deferred requests go back to the FRONT of the queue, in their order")
def test_hidden_deferred_go_to_the_front():
    # step 0: adapter 1 runs, 2 and 3 wait; step 1: new arrivals must queue BEHIND them
    trace = [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5)]
    r = sc.simulate(trace, max_loras=1, max_num_seqs=4)
    assert r.waits == [0, 1, 2, 2, 3]
    assert r.deferrals == [2, 3, 2, 1, 0]


@pytest.mark.points(1)
@pytest.mark.hint("steps with nothing to do still count; the run ends at the last busy step")
def test_hidden_idle_steps():
    r = sc.simulate([(3, 1), (3, 0), (9, 1)], max_loras=1, max_num_seqs=1)
    assert r.steps == 10 and len(r.deferrals) == 10
    assert r.waits == [0, 1, 0] and (r.hits, r.loads) == (1, 1)
    r = sc.simulate([], max_loras=2, max_num_seqs=2)
    assert (r.steps, r.deferrals, r.waits, r.hit_rate) == (0, [], [], 0.0)


@pytest.mark.points(1)
@pytest.mark.hint("the trace is (arrival step, adapter id) pairs, sorted by arrival")
def test_hidden_simulate_bad_trace():
    for bad in ([(1, 1), (0, 1)], [(0, -1)], [(0, 1, 2)], [(-1, 1)], [(0.5, 1)]):
        with pytest.raises(ValueError):
            sc.simulate(bad, 2, 2)
    with pytest.raises(ValueError, match="service_steps"):
        sc.simulate([(0, 1)], 2, 2, service_steps=0)
