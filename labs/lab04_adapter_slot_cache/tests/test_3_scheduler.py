"""Public tests, TODO 5-6: the max_loras admission rule, and the simulator, traced by hand."""
import pytest

from lab04_adapter_slot_cache import slot_cache as sc

R = sc.Request


@pytest.mark.points(3)
def test_skip_is_not_a_barrier():
    waiting = [R(0, 1), R(1, 2), R(2, 3), R(3, 1), R(4, 0), R(5, 4), R(6, 2)]
    admitted, deferred = sc.schedule_step(waiting, max_loras=2, max_num_seqs=8)
    # 1 and 2 fill the set; 3 and 4 are skipped, but the walk goes on: 1, base and 2 still run
    assert admitted == [R(0, 1), R(1, 2), R(3, 1), R(4, 0), R(6, 2)]
    assert deferred == [R(2, 3), R(5, 4)]


@pytest.mark.points(2)
def test_running_requests_count():
    # two running requests use adapter 5, one runs on the base model: 5 is already in the set,
    # so 1 fills it, 2 waits, and the request for 5 still runs
    admitted, deferred = sc.schedule_step([(0, 1), (1, 2), (2, 5)], 2, 8, running_adapters=[5, 5, 0])
    assert admitted == [(0, 1), (2, 5)] and deferred == [(1, 2)]


@pytest.mark.points(2)
def test_max_num_seqs_stops_the_walk():
    waiting = [(0, 1), (1, 3), (2, 2), (3, 1), (4, 1)]
    # one request running (base), so 2 more fit; (4, 1) is never reached: neither list
    admitted, deferred = sc.schedule_step(waiting, max_loras=1, max_num_seqs=3, running_adapters=[0])
    assert admitted == [(0, 1), (3, 1)]
    assert deferred == [(1, 3), (2, 2)]


@pytest.mark.points(3)
def test_simulate_by_hand():
    trace = [(0, 1), (0, 2), (0, 1), (1, 2), (1, 0)]
    r = sc.simulate(trace, max_loras=1, max_num_seqs=2)
    # step 0: requests 0 and 2 (adapter 1) run, 1 is deferred.  step 1: 1 and 3 (adapter 2)
    # run, evicting 1; request 4 is not reached.  step 2: request 4 (base) runs.
    assert r.steps == 3
    assert r.deferrals == [1, 0, 0]
    assert r.waits == [0, 1, 0, 0, 1]
    assert (r.hits, r.loads, r.evictions) == (0, 2, 1)


@pytest.mark.points(2)
def test_simulate_two_step_requests_by_hand():
    trace = [(0, 1), (0, 2), (0, 1), (1, 2), (1, 0)]
    r = sc.simulate(trace, max_loras=1, max_num_seqs=2, service_steps=2)
    # steps 0-1: requests 0 and 2 run (adapter 1 is a hit at step 1); steps 2-3: 1 and 3
    # (adapter 2); steps 4-5: request 4. Running requests fill max_num_seqs, so at step 1
    # nobody is even considered, and nobody is deferred.
    assert r.steps == 6
    assert r.deferrals == [1, 0, 0, 0, 0, 0]
    assert r.waits == [0, 2, 0, 1, 3]
    assert (r.hits, r.loads, r.evictions) == (2, 2, 1)


# tenants -> (hit rate, deferrals per step, mean wait in steps), as the lab page's table states
DEFERRAL_TAX = {4: (1.0, 0.0, 0.0), 8: (0.261, 0.953, 0.162), 16: (0.023, 4.024, 0.700),
                64: (0.000, 23.491, 4.115)}


@pytest.mark.points(2)
def test_deferral_tax_table():
    for tenants, (hit_rate, per_step, wait) in DEFERRAL_TAX.items():
        ids = sc.random_ids(20_000, [1.0] * tenants, seed=0)
        r = sc.simulate(sc.steady_arrivals(ids, 6), max_loras=4, max_num_seqs=8)
        assert round(r.hit_rate, 3) == hit_rate, f"{tenants} tenants"
        assert round(r.total_deferrals / r.steps, 3) == per_step, f"{tenants} tenants"
        assert round(r.mean_wait, 3) == wait, f"{tenants} tenants"
