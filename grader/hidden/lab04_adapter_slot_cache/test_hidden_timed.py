"""Hidden tests, TODO 13-15: the timed simulator against a plain reference written here, the
summary against numpy, and the memory arithmetic."""
import random
import statistics

import numpy as np
import pytest

from lab04_adapter_slot_cache import workloads as wl

T = wl.TraceRequest


class Req:
    def __init__(self, k, row):
        self.k, (self.arrival, self.adapter, _, self.prompt, self.output) = k, row
        self.left = self.output


def ref_timed(trace, max_loras, max_num_seqs, max_cpu, c):
    """One step at a time on request objects; both tiers as timestamped dicts; the step's
    adapter set as a plain list that adapters are appended to and removed from."""
    reqs = [Req(k, row) for k, row in enumerate(trace)]
    queue, running, order = [], [], []
    dev, host, tick = {}, {}, 0                   # adapter -> last use
    c_hits = c_host = c_disk = dev_ev = host_ev = 0
    out = {k: [0.0, 0.0, 0.0] for k in range(len(reqs))}
    clock, nxt, steps = 0.0, 0, 0
    while nxt < len(reqs) or queue or running:
        if not queue and not running:
            clock = max(clock, reqs[nxt].arrival)
        while nxt < len(reqs) and reqs[nxt].arrival <= clock:
            queue.append(reqs[nxt])
            nxt += 1
        in_set = set(order)
        admitted = []
        for r in list(queue):
            if len(running) + len(admitted) == max_num_seqs:
                break
            if r.adapter == 0 or r.adapter in in_set or len(in_set) < max_loras:
                admitted.append(r)
                queue.remove(r)
                if r.adapter and r.adapter not in in_set:
                    in_set.add(r.adapter)
                    order.append(r.adapter)
        cost = c.base_step_s + c.per_token_s * (len(running) + sum(r.prompt for r in admitted))
        cost += c.per_adapter_s * len(order)
        for a in order:
            tick += 1
            if a in dev:
                c_hits += 1
            else:
                if a in host:
                    c_host += 1
                    cost += c.host_load_s
                else:
                    c_disk += 1
                    cost += c.disk_load_s
                    if len(host) == max_cpu:
                        victim = min(host, key=host.get)
                        del host[victim]
                        host_ev += 1
                        if victim in dev:
                            del dev[victim]
                            dev_ev += 1
                if len(dev) == max_loras:
                    victim = min(dev, key=dev.get)
                    del dev[victim]
                    dev_ev += 1
            dev[a] = host[a] = tick
        end = clock + cost
        for r in admitted:
            out[r.k][0] = clock - r.arrival
            out[r.k][1] = end - r.arrival
        running += admitted
        for r in running:
            r.left -= 1
            if r.left == 0:
                out[r.k][2] = end - r.arrival
        running = [r for r in running if r.left > 0]
        still = {r.adapter for r in running}
        order = [a for a in order if a in still]
        clock, steps = end, steps + 1
    return dict(requests=len(reqs), steps=steps, duration_s=clock, hits=c_hits, host_loads=c_host,
                disk_loads=c_disk, device_evictions=dev_ev, host_evictions=host_ev,
                queue_s=[out[k][0] for k in out], ttft_s=[out[k][1] for k in out],
                e2e_s=[out[k][2] for k in out])


def random_timed_trace(rng, n, n_adapters, rate):
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate) if rng.random() > 0.05 else rng.uniform(2, 6)   # and some lulls
        a = 0 if rng.random() < 0.15 else rng.choices(range(1, n_adapters + 1),
                                                      weights=[1 / k for k in range(1, n_adapters + 1)])[0]
        out.append(T(round(t * 1024) / 1024, a, rng.choice([8, 16]) if a else 0, rng.randint(1, 40), rng.randint(1, 9)))
    return out


def report_dict(r):
    return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(r).items()}


@pytest.mark.points(5)
@pytest.mark.hint("per step: jump an idle clock, admit by part 1's rule, access adapters once each "
                  "in join order, cost the step, retire finished requests")
def test_hidden_timed_random_vs_reference():
    rng = random.Random(2026)
    for case in range(25):
        max_loras, seqs = rng.randint(1, 4), rng.randint(1, 10)
        max_cpu = max_loras + rng.choice([0, 1, 3])
        # dyadic costs and arrival times: every sum is exact, so no tie between an arrival and a
        # step's end depends on the order in which a simulator adds up a step's cost
        costs = wl.StepCosts(rng.choice([2 ** -6, 2 ** -5]),
                             *(rng.choice([0.0, x]) for x in (2 ** -11, 2 ** -9, 2 ** -8, 2 ** -4)))
        trace = random_timed_trace(rng, 300, rng.choice([2, 5, 12]), rng.choice([5.0, 40.0, 200.0]))
        got = report_dict(wl.simulate_timed(trace, max_loras, seqs, max_cpu, costs))
        want = ref_timed(trace, max_loras, seqs, max_cpu, costs)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (
                f"case {case}: {key} differs (max_loras={max_loras}, max_num_seqs={seqs}, "
                f"max_cpu_loras={max_cpu}, {costs})")


@pytest.mark.points(2)
@pytest.mark.hint("the step's adapters are accessed in the order they joined the step's set, not running-first")
def test_hidden_small_traces_where_access_order_matters():
    # small, crowded traces on 2-3 slots: the few where the order of a step's accesses changes
    # which adapter is least recently used are in here (dyadic costs: sums are exact)
    rng = random.Random(7)
    c = wl.StepCosts(1.0, 0.125, 0.5, 2.0, 8.0)
    for case in range(300):
        n = rng.randint(6, 14)
        times = sorted(rng.choice([0.0, 0.5, 1.0, 2.0, 4.0, 8.0]) for _ in range(n))
        trace = [T(times[k], a, 8 if a else 0, rng.choice([1, 2, 4, 8]), rng.randint(1, 5))
                 for k, a in enumerate(rng.choice([0, 1, 2, 3, 4, 5]) for _ in range(n))]
        max_loras = rng.choice([2, 3])
        max_cpu = max_loras + rng.choice([0, 1])
        got = report_dict(wl.simulate_timed(trace, max_loras, 4, max_cpu, c))
        want = ref_timed(trace, max_loras, 4, max_cpu, c)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), f"case {case}: {key} differs"


@pytest.mark.points(2)
@pytest.mark.hint("TTFT and queueing are measured from ARRIVAL; the first token comes at the end of the admission step")
def test_hidden_latency_is_from_arrival():
    c = wl.StepCosts(1.0, 0.0, 0.0, 0.0, 0.0)
    # one slot, three adapters arriving together: they run one after another, 1 s a step
    trace = [T(0.0, 1, 8, 4, 1), T(0.0, 2, 8, 4, 1), T(0.25, 3, 8, 4, 2)]
    r = wl.simulate_timed(trace, 1, 4, 3, c)
    assert r.queue_s == pytest.approx([0.0, 1.0, 1.75])
    assert r.ttft_s == pytest.approx([1.0, 2.0, 2.75])
    assert r.e2e_s == pytest.approx([1.0, 2.0, 3.75])
    assert (r.steps, r.duration_s) == (4, pytest.approx(4.0))


@pytest.mark.points(2)
@pytest.mark.hint("the base model costs no adapter time and never takes a slot; a host->device copy costs host_load_s, a disk read disk_load_s")
def test_hidden_step_costs():
    c = wl.StepCosts(1.0, 0.0, 0.5, 2.0, 8.0)
    r = wl.simulate_timed([T(0.0, 0, 0, 4, 1)] * 3, 1, 4, 1, c)          # base only: 1 step, 1 s
    assert (r.steps, r.duration_s, r.loads) == (1, pytest.approx(1.0), 0)
    # 1 (disk), then 2 (disk, evicts 1 from the device, keeps it on the host), then 1 (host)
    trace = [T(0.0, 1, 8, 1, 1), T(0.0, 2, 8, 1, 1), T(0.0, 1, 8, 1, 1)]
    r = wl.simulate_timed(trace, 1, 1, 2, c)
    assert r.ttft_s == pytest.approx([9.5, 19.0, 22.5])
    assert (r.disk_loads, r.host_loads, r.device_evictions, r.host_evictions) == (2, 1, 2, 0)


@pytest.mark.points(1)
@pytest.mark.hint("the trace is TraceRequests sorted by arrival_s; the base model has rank 0")
def test_hidden_timed_bad_input():
    good = T(0.0, 1, 8, 4, 2)
    for bad in ([T(1.0, 1, 8, 4, 2), good], [T(0.0, -1, 8, 4, 2)], [T(0.0, 1, 8, 0, 2)],
                [T(0.0, 1, 8, 4, 0)], [T(0.0, 0, 8, 4, 2)], [(0.0, 1, 8)]):
        with pytest.raises(ValueError):
            wl.simulate_timed(bad, 2, 2)
    with pytest.raises(ValueError):
        wl.simulate_timed([good], 2, 2, max_cpu_loras=1)
    r = wl.simulate_timed([], 2, 2)
    assert (r.requests, r.steps, r.duration_s, r.ttft_s) == (0, 0, 0.0, [])


@pytest.mark.points(3)
@pytest.mark.hint("percentiles over EVERY request (base included), linear as numpy; fairness over adapters >= 1 only")
def test_hidden_summary_vs_numpy():
    rng = random.Random(4)
    for case in range(10):
        trace = random_timed_trace(rng, 400, rng.choice([3, 9]), rng.choice([10.0, 80.0]))
        r = wl.simulate_timed(trace, 2, 6, 4)
        slo = rng.choice([0.05, 0.2, 1.0])
        s = wl.latency_summary(trace, r, slo)
        ttft, e2e = np.array(r.ttft_s), np.array(r.e2e_s)
        assert s.ttft_p50_s == pytest.approx(np.percentile(ttft, 50), rel=1e-9), f"case {case}"
        assert s.ttft_p90_s == pytest.approx(np.percentile(ttft, 90), rel=1e-9), f"case {case}"
        assert s.ttft_p99_s == pytest.approx(np.percentile(ttft, 99), rel=1e-9), f"case {case}"
        assert s.e2e_p50_s == pytest.approx(np.percentile(e2e, 50), rel=1e-9), f"case {case}"
        assert s.e2e_p99_s == pytest.approx(np.percentile(e2e, 99), rel=1e-9), f"case {case}"
        assert s.slo_attainment == pytest.approx(float(np.mean(ttft <= slo))), f"case {case}"
        assert s.throughput_rps == pytest.approx(len(trace) / r.duration_s), f"case {case}"
        by = {}
        for row, x in zip(trace, r.ttft_s):
            if row.adapter:
                by.setdefault(row.adapter, []).append(x)
        p99 = [np.percentile(v, 99) for v in by.values()]
        assert s.fairness == pytest.approx(max(p99) / statistics.median(p99), rel=1e-9), f"case {case}"


@pytest.mark.points(1)
@pytest.mark.hint("a report must be summarised with its own trace; an SLO bound is a number of seconds > 0")
def test_hidden_summary_bad_input():
    trace = [T(0.0, 1, 8, 4, 2), T(0.5, 0, 0, 4, 2)]
    r = wl.simulate_timed(trace, 1, 2)
    with pytest.raises(ValueError):
        wl.latency_summary(trace[:1], r, 0.1)
    with pytest.raises(ValueError):
        wl.latency_summary(trace, r, 0)
    s = wl.latency_summary([T(0.0, 0, 0, 4, 2)], wl.simulate_timed([T(0.0, 0, 0, 4, 2)], 1, 1), 1.0)
    assert s.fairness == 1.0 and s.slo_attainment == 1.0


@pytest.mark.points(2)
@pytest.mark.hint("padded: max_loras x max_lora_rank for every slot, used or not; paged: the resident ranks only")
def test_hidden_padded_vs_paged():
    rng = random.Random(8)
    for _ in range(50):
        slots, max_rank, bpr = rng.randint(1, 16), rng.choice([8, 16, 64, 256]), rng.randint(1, 5000)
        ranks = [rng.randint(1, max_rank) for _ in range(rng.randint(0, slots))]
        m = wl.padded_vs_paged(ranks, slots, max_rank, bpr)
        assert (m.padded_bytes, m.paged_bytes) == (slots * max_rank * bpr, sum(ranks) * bpr)
        assert m.wasted_share == pytest.approx(1 - sum(ranks) / (slots * max_rank))
    with pytest.raises(ValueError):
        wl.padded_vs_paged([8, 128], 4, 64, 10)          # rank 128 > max_lora_rank
    with pytest.raises(ValueError):
        wl.padded_vs_paged([8, 8, 8], 2, 64, 10)         # 3 adapters, 2 slots
