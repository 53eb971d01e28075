"""Public tests, TODO 13-15: the simulator in seconds, its summary, and padded against paged memory."""
import pytest

from lab04_adapter_slot_cache import workloads as wl

T = wl.TraceRequest
# costs that are powers of two add up exactly, so the numbers below are exact
COSTS = wl.StepCosts(base_step_s=1.0, per_token_s=0.125, per_adapter_s=0.5, host_load_s=2.0, disk_load_s=8.0)
TRACE = [T(0.0, 1, 8, 8, 2), T(0.0, 0, 0, 8, 1), T(0.5, 2, 8, 4, 1)]


@pytest.mark.points(3)
def test_timed_by_hand():
    r = wl.simulate_timed(TRACE, max_loras=1, max_num_seqs=4, max_cpu_loras=2, costs=COSTS)
    # step 0 at 0: requests 0 and 1 (base) run; 16 prompt tokens, adapter 1 read from disk:
    #   1 + 16 x 0.125 + 0.5 + 8 = 11.5 s. Request 1 is done; request 0 has one token to go.
    # step 1 at 11.5: request 2 (adapter 2) must wait, the one slot serves request 0:
    #   1 + 1 x 0.125 + 0.5 = 1.625 s, ends at 13.125; request 0 is done.
    # step 2 at 13.125: request 2, adapter 2 from disk: 1 + 4 x 0.125 + 0.5 + 8 = 10 s.
    assert (r.steps, r.duration_s) == (3, 23.125)
    assert r.queue_s == [0.0, 0.0, 12.625]            # from arrival (0.5) to the step's start
    assert r.ttft_s == [11.5, 11.5, 22.625]           # from arrival to the step's end
    assert r.e2e_s == [13.125, 11.5, 22.625]
    assert (r.hits, r.host_loads, r.disk_loads, r.device_evictions, r.host_evictions) == (1, 0, 2, 1, 0)


@pytest.mark.points(2)
def test_summary_by_hand():
    r = wl.simulate_timed(TRACE, 1, 4, 2, COSTS)
    s = wl.latency_summary(TRACE, r, slo_ttft_s=12.0)
    assert s.ttft_p50_s == 11.5
    assert s.ttft_p90_s == pytest.approx(20.4)                 # 11.5 + 0.8 x (22.625 - 11.5)
    assert s.slo_attainment == pytest.approx(2 / 3)
    assert s.throughput_rps == pytest.approx(3 / 23.125)
    # adapters 1 and 2 only (not the base model): p99s 11.5 and 22.625, median 17.0625
    assert s.fairness == pytest.approx(22.625 / 17.0625)


def cliff(n_adapters, max_loras):
    trace = wl.make_trace(4000, 20.0, kind="uniform", n_adapters=n_adapters, prompt=(16, 256),
                          output=(16, 128), seed=0)
    return wl.latency_summary(trace, wl.simulate_timed(trace, max_loras, 64, max_cpu_loras=64), 0.2)


@pytest.mark.points(3)
def test_the_cliff():
    # the lab page's table: 4,000 requests at 20/s over n uniformly popular adapters, default costs
    want = {(8, 4): (39, 66, 1.0), (8, 8): (42, 74, 1.0), (8, 12): (48, 9282, 0.683),
            (8, 16): (127, 9709, 0.514), (8, 32): (4158, 14271, 0.261), (16, 16): (49, 83, 1.0)}
    for (max_loras, n), (p50_ms, p99_ms, slo) in want.items():
        s = cliff(n, max_loras)
        got = (round(s.ttft_p50_s * 1000), round(s.ttft_p99_s * 1000), round(s.slo_attainment, 3))
        assert got == (p50_ms, p99_ms, slo), f"max_loras={max_loras}, {n} adapters"


@pytest.mark.points(2)
def test_padded_vs_paged_s_lora_mix():
    # S-LoRA's S2 rank mix in 4 slots of max_lora_rank 64; one rank of a Llama-7B-shaped adapter on
    # q, k, v, o in 32 layers: 32 x 4 x (4096 + 4096) x 2 bytes = 2 MiB
    m = wl.padded_vs_paged([64, 32, 16, 8], max_loras=4, max_lora_rank=64, bytes_per_rank=2 * 2 ** 20)
    assert (m.padded_bytes, m.paged_bytes) == (512 * 2 ** 20, 240 * 2 ** 20)
    assert m.wasted_share == 0.53125


@pytest.mark.points(1)
def test_access_order_is_join_order():
    # nine requests, 3 slots in a host cache of 4: an adapter keeps its place in the step's set
    # while any of its requests runs, so the one evicted later is not the one part 1's order
    # (running requests first, by admission) would pick; that order gives 62.875 s and no host load
    trace = [T(0.0, 3, 8, 2, 4), T(0.5, 1, 8, 4, 3), T(0.5, 4, 8, 8, 4), T(1.0, 1, 8, 8, 4), T(1.0, 3, 8, 2, 4),
             T(1.0, 3, 8, 2, 4), T(2.0, 2, 8, 1, 4), T(4.0, 0, 0, 2, 3), T(4.0, 1, 8, 1, 4)]
    r = wl.simulate_timed(trace, max_loras=3, max_num_seqs=4, max_cpu_loras=4, costs=COSTS)
    assert (r.steps, r.duration_s, r.host_loads, r.disk_loads) == (12, 64.875, 1, 4)
